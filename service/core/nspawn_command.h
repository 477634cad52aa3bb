#pragma once

#include "container_paths.h"
#include "container_spec.h"
#include "network_plan.h"
#include "settings.h"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nixos_containers {

struct NspawnInputs {
    std::string name;
    const ContainerSpec* spec = nullptr;
    ContainerPaths paths;
    // The system as the container sees it (/nix/store/...-system).
    std::string systemInContainer;
    // Set when the service prepared the network namespace (planNetwork).
    std::optional<NetworkPlan> network;
    // True when the system file says i686-linux on an x86_64 host.
    bool personalityX86 = false;
    // PATH handed to the container, as the module passes its own.
    std::string path = "/run/current-system/sw/bin:/run/current-system/sw/sbin";
    // Nix state binds that exist on this host (the module binds them
    // unconditionally; nspawn refuses a bind of a missing path).
    bool bindNixDb = false;
    bool bindNixDaemonSocket = false;
    // By index in spec->bindMounts: the pin nspawn binds instead of the
    // bind's host path (bind_pins.h).
    std::map<std::size_t, std::string> pinnedBinds;
};

// The argv (argv[0] = settings.nspawn) of the module's startScript, as one
// word per element: never a shell string. The container's network is
// prepared by the service (see ContainerNetwork), so instead of the module's
// --network-veth/--network-bridge/--network-veth-extra/--network-interface/
// --network-macvlan the namespace is passed with --network-namespace-path
// (plus --private-network, which nspawn requires for --port), or, for a
// user-namespaced container, through its unit (unitNetworkNamespace). The
// init runs directly: the module's container-init wrapper only configured
// the network.
std::vector<std::string> buildNspawnArgv(const Settings& settings, const NspawnInputs& inputs);

// The network namespace a container's unit starts nspawn in
// (NetworkNamespacePath=); empty when nspawn is given its namespace itself.
// nspawn 252 joins --network-namespace-path from inside the user namespace
// it creates, and the kernel refuses (EPERM): that user namespace does not
// own a namespace made outside it. So a user-namespaced container's nspawn
// starts inside the namespace and the container shares it. Its root has no
// CAP_NET_ADMIN there, so the network the service set up is the one it
// keeps; nspawn cannot forward ports from inside it (validatePrivateUsers).
std::string unitNetworkNamespace(const ContainerSpec& spec, const std::optional<NetworkPlan>& network);

}  // namespace nixos_containers
