#pragma once

#include "conf_file.h"
#include "container_spec.h"
#include "container_state.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace nixos_containers {

// One generation of a container's profile, as nix-env keeps them: the link
// PROFILE-N-link to a system, PROFILE itself pointing at the current one.
struct Generation {
    std::uint32_t number = 0;
    std::string system;             // the store path it links to
    std::uint64_t createdUsec = 0;  // when the link was made (CLOCK_REALTIME)
    bool current = false;
    bool operator==(const Generation&) const = default;
};

// One container as the service knows it: its spec from disk plus what
// systemd and machined say about it now.
struct Container {
    std::string name;
    ContainerSpec spec;
    EnvFile conf;
    // NixOS's configuration declares it (Update and Destroy are refused):
    // through nixpkgs' module, which then runs it by its container@NAME.service
    // (templateUnit), or through the declarative set, run as any other.
    bool declarative = false;
    bool templateUnit = false;
    // The uid whose Create made it, from the conf; 0 for root and for a
    // container made before owners were recorded (or by nixos-container).
    std::uint32_t owner = 0;
    ContainerState state = ContainerState::Stopped;
    std::string unit;
    std::uint32_t leader = 0;
    std::string hostInterface;
    std::filesystem::path root;
    std::filesystem::path systemOnHost;  // the system it runs, resolved
    std::vector<std::string> addresses;  // machined's while running, else the planned ones
    // machined's view while it runs (empty, 0 otherwise): its machine object,
    // registration time (usec, CLOCK_REALTIME) and os-release.
    std::string machinePath;
    std::uint64_t timestamp = 0;
    std::map<std::string, std::string> osRelease;
    std::string operation;  // the verb in progress; empty when idle
    std::string lastError;  // why the last operation failed
    // Why its conf could not be read, when it could not (then spec and conf
    // are empty): listed so that an admin sees it and can Destroy it.
    std::string broken;
    // systemd's Result for its unit while it is failed ("exit-code", "timeout",
    // "signal"...): why it failed, for clients that list containers.
    std::string unitResult;
    // Its profile's generations, oldest first (Rollback goes back one).
    std::vector<Generation> generations;
    // Unit signals seen so far: an answer to a state query asked before the
    // latest signal is older than what the signal said, and is dropped.
    std::uint64_t unitEvents = 0;
    // machined lookups a MachineNew asked for while it starts, not yet
    // answered: a Start whose job is done answers with the leader it has
    // only when none is out (the last answer is that of nspawn's own
    // registration, which machined announced before the job could end).
    std::uint32_t machineLookupsInFlight = 0;
};

}  // namespace nixos_containers
