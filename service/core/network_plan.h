#pragma once

#include "container_spec.h"
#include "settings.h"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers {

// One veth pair: its host end lives in the host's namespace, its container
// end in the container's namespace.
struct VethPlan {
    std::string hostName;       // <= 15 bytes, collision-free (hostInterfaceName)
    std::string hostAltName;    // "ve-FULLNAME" (altname; how links are found again), may be empty
    std::string containerName;  // name inside the container (eth0 for the main veth)
    std::string containerMac;   // its MAC ("02:00:..."); empty: the kernel's random one
    NetworkOptions options;     // the module's semantics: see ContainerNetwork
};

// Everything the service creates on the host for a container's network,
// before its init runs. Pure data, derived from the spec (planNetwork).
struct NetworkPlan {
    std::string container;
    std::filesystem::path netnsPin;  // bind-mounted namespace, given to nspawn
    std::optional<VethPlan> mainVeth;
    std::vector<VethPlan> extraVeths;
    std::vector<std::string> moveInterfaces;  // host interfaces moved in, same name
    std::vector<std::string> macvlanParents;  // a macvlan "mv-PARENT" inside per parent
    // The container's root holds no capability over the namespace (a
    // user-namespaced container shares it from outside its user namespace):
    // ports below 1024 and ICMP echo sockets are then opened to every uid
    // there, as root would have them.
    bool unprivilegedRoot = false;

    [[nodiscard]] bool empty() const {
        return !mainVeth && extraVeths.empty() && moveInterfaces.empty() && macvlanParents.empty();
    }
};

// Linux interface names: IFNAMSIZ (16) bytes including the terminating NUL.
inline constexpr std::size_t kMaxInterfaceName = 15;

// The macvlan made inside the container for a host interface `parent`
// (the module's "mv-PARENT"); validation holds it to kMaxInterfaceName.
std::string macvlanName(std::string_view parent);

// "ve-NAME" when it fits in 15 bytes; otherwise "ve-" + 4 characters of the
// name + "-" + 7 hex digits of a hash of the whole name, so two long names
// that share a prefix still get distinct, stable host names.
std::string hostInterfaceName(std::string_view container);

// True when planNetwork gives the spec a main veth (eth0): a private network
// with an address or a host bridge.
bool hasMainVeth(const ContainerSpec& spec);

// Empty optional when the spec has no private network.
std::optional<NetworkPlan> planNetwork(const std::string& container, const ContainerSpec& spec,
                                       const Settings& settings);

// The container's addresses as the service configured them (no prefix), for
// properties and Inspect: local IPv4 then local IPv6, of every veth.
std::vector<std::string> plannedContainerAddresses(const ContainerSpec& spec);

// The address without its /prefix.
std::string stripPrefix(std::string_view address);

}  // namespace nixos_containers
