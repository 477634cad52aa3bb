#pragma once

#include "authorization_gate.h"
#include "container_registry.h"
#include "system_seams.h"

#include <string>

namespace nixos_containers {

// OpenShell and OpenLogin: a terminal in a running container, opened by
// machined (OpenMachineShell / OpenMachineLogin) after our own polkit check
// (org.nixos.containers.shell with user and command, .login; and host-access
// when the container's users are the host's, see authorizeEntry). Like Run, not
// an operation: it neither waits for nor blocks the verbs. machined opens
// the PTY inside the container and asks the container's own systemd to run
// the shell or getty on it, so the container needs systemd and a system
// bus; without them the answer is NoSystemBus.
class TerminalOpener {
public:
    TerminalOpener(ContainerRegistry& registry, AuthorizationGate& gate, MachineRegistry& machines)
        : registry_(registry), gate_(gate), machines_(machines) {}

    // `done` gets the PTY, or NoSuchContainer, InvalidArgument, NotRunning,
    // NoSystemBus, AccessDenied, InteractiveAuthorizationRequired, Failed.
    void openShell(const Caller& caller, const std::string& name, ShellRequest request,
                   Callback<MachineTerminal> done);
    void openLogin(const Caller& caller, const std::string& name, Callback<MachineTerminal> done);

private:
    // After polkit: the container must run (and reach the host only if host
    // access was granted), then machined opens the terminal.
    void whenRunning(const std::string& name, bool hostAccessGranted, std::function<void()> open,
                     const Callback<MachineTerminal>& done);

    ContainerRegistry& registry_;
    AuthorizationGate& gate_;
    MachineRegistry& machines_;
};

// polkit's `command` detail of a shell: its words, or "" for the user's
// login shell.
std::string shellCommand(const ShellRequest& request);

}  // namespace nixos_containers
