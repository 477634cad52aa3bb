#pragma once

#include "container_paths.h"
#include "container_spec.h"
#include "network_plan.h"
#include "settings.h"

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
};

// The argv (argv[0] = settings.nspawn) of the module's startScript, as one
// word per element: never a shell string. The container's network is
// prepared by the service (see ContainerNetwork), so instead of the module's
// --network-veth/--network-bridge/--network-veth-extra/--network-interface/
// --network-macvlan the namespace is passed with --network-namespace-path
// (plus --private-network, which nspawn requires for --port). The init runs
// directly: the module's container-init wrapper only configured the network.
std::vector<std::string> buildNspawnArgv(const Settings& settings, const NspawnInputs& inputs);

}  // namespace nixos_containers
