#pragma once

#include "container_spec.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers {

// One container of NixOS's declarative set, as nixos/module.nix writes it
// to /etc/nixos-containers/declarative.json:
//   {"Containers": {"NAME": {"Spec": {...Create's keys, Inspect's JSON...},
//                            "RestartIfChanged": true}}}
struct DeclaredContainer {
    std::string name;
    ContainerSpec spec;
    // The module's restartIfChanged: false keeps a change that needs a
    // restart for the container's next start.
    bool restartIfChanged = true;
    // Why this entry cannot be applied (its spec is then empty): the others
    // still apply, and this container is left as it is.
    std::string problem;
};

// The declarative set is root's whole configuration: large, but bounded
// (a D-Bus message is at most 128 MiB; the system bus allows 32 MiB).
inline constexpr std::size_t kMaxDeclarativeSetBytes = std::size_t{32} << 20;

// Parses the set. Throws ContainerError(InvalidArgument) when the document
// itself is no set (not JSON, no "Containers" object, too large); an entry
// that is wrong gets its `problem` instead, naming the container and key.
// Sorted by name.
std::vector<DeclaredContainer> parseDeclarativeSet(std::string_view text);

}  // namespace nixos_containers
