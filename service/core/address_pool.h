#pragma once

#include "container_spec.h"

#include <map>
#include <set>
#include <string>
#include <utility>

namespace nixos_containers {

// nixos-container's allocation: the first free 10.233.N.1 (host) /
// 10.233.N.2 (container) pair, N in 0..255. The pool is consulted and
// updated on the service's one event loop, so concurrent Creates never get
// the same pair: an allocation is held from the moment it is made until the
// Create finishes (commit) or fails (release).
class AddressPool {
public:
    // Whether `options` hold exactly a pair allocate() hands out, and
    // nothing else: addresses the service chose, not the caller.
    static bool isPoolPair(const NetworkOptions& options);

    // Addresses used by existing containers: every host/local IPv4 of `spec`.
    void noteUsed(const ContainerSpec& spec);
    void forget(const ContainerSpec& spec);
    // Throws ContainerError(LimitsExceeded) when all 256 pairs are taken.
    std::pair<std::string, std::string> allocate();
    void release(const std::pair<std::string, std::string>& pair);

private:
    std::multiset<std::string> used_;
};

}  // namespace nixos_containers
