#pragma once

#include "container_spec.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace nixos_containers {

inline constexpr std::string_view kDefaultIpv4Pool = "10.233.0.0/16";

// The addresses of automatic private networks (no address given, no
// bridge): a point-to-point IPv4 pair and, when there is an IPv6 pool, an
// IPv6 pair beside it.
//
// IPv4: the pool is carved into /30 blocks; a pair is a block's .1 (host)
// and .2 (container). The blocks that start a /24 come first, so the
// default pool hands out nixos-container's 10.233.N.1/10.233.N.2, N in
// 0..255, exactly as before, then the other 63 blocks of every /24
// (10.233.N.5/.6, .9/.10...): 16384 pairs in all. A /30 rather than a /31:
// every pair has the shape the first 256 have, and no pair address is a
// /24's .0 or .255, which tools and firewalls often treat as special.
//
// IPv6: a /64 per container from the pool (by default a ULA /48 derived
// from the machine id, ulaPoolFromMachineId): SUBNET::1 (host) and
// SUBNET::2 (container).
//
// The pool is consulted and updated on the service's one event loop, so
// concurrent Creates never get the same pair: an allocation is held from the
// moment it is made until the Create finishes (commit) or fails (release).
class AddressPool {
public:
    // ipv4Pool: an IPv4 prefix, /8 to /30. ipv6Pool: an IPv6 prefix, /8 to
    // /64, or empty for none. Throws std::invalid_argument on anything else.
    explicit AddressPool(std::string_view ipv4Pool = kDefaultIpv4Pool, std::string_view ipv6Pool = {});

    // Whether `options` hold exactly a pair allocate() hands out (of this
    // pool, or nixos-container's 10.233.N.1/.2), and nothing else: addresses
    // the service chose, not the caller.
    [[nodiscard]] bool isPoolPair(const NetworkOptions& options) const;

    // Whether `address` (IPv4, no prefix) lies in this IPv4 pool.
    [[nodiscard]] bool inIpv4Pool(const std::string& address) const;

    // Addresses used by existing containers: every host/local address of `spec`.
    void noteUsed(const ContainerSpec& spec);
    void forget(const ContainerSpec& spec);
    // The first free pair of each pool, held until released or forgotten.
    // Throws ContainerError(LimitsExceeded) when a pool has none left.
    NetworkOptions allocate();
    void release(const NetworkOptions& pair);

private:
    using Ipv6 = std::array<std::uint8_t, 16>;
    [[nodiscard]] std::size_t ipv4Pairs() const;
    [[nodiscard]] std::uint32_t ipv4Block(std::size_t index) const;
    [[nodiscard]] bool isIpv4PoolPair(const std::string& host, const std::string& local) const;
    [[nodiscard]] bool isIpv6PoolPair(const std::string& host, const std::string& local) const;
    [[nodiscard]] Ipv6 ipv6Address(std::size_t subnet, std::uint8_t interfaceId) const;
    [[nodiscard]] std::size_t ipv4Index(const std::string& address) const;
    [[nodiscard]] std::size_t ipv6Subnet(const std::string& address) const;
    bool isFree(const std::string& host, const std::string& local) const;

    std::uint32_t ipv4Base_ = 0;
    int ipv4Length_ = 0;
    bool hasIpv6_ = false;
    Ipv6 ipv6Base_{};
    int ipv6Length_ = 0;
    // Canonical text of every address in use, once per user.
    std::multiset<std::string> used_;
    // Every pair below these indexes is known to be taken: allocation in
    // order stays linear over a service's life, not quadratic.
    std::size_t nextIpv4_ = 0;
    std::size_t nextIpv6_ = 0;
};

// A ULA /48 (fd00::/8 and 40 bits) from a machine id (32 hex digits, as in
// /etc/machine-id), hashed with a key of the service's own, in the spirit of
// systemd's application-specific ids (networkd derives its own prefixes from
// the machine id too): stable on one machine, different on the next, and 40
// bits of a 64-bit hash say nothing useful of the 128-bit id. Not a keyed
// cryptographic hash (the core links no crypto); the id is not a secret
// from root, only from the network.
std::string ulaPoolFromMachineId(std::string_view machineId);

}  // namespace nixos_containers
