#include "nspawn_command.h"

#include <numeric>

namespace nixos_containers {

namespace {

std::string joined(const std::vector<std::string>& items, const std::string& separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) {
            out += separator;
        }
        out += item;
    }
    return out;
}

std::string portArgument(const PortForward& port) {
    return "--port=" + port.protocol + ":" + std::to_string(port.hostPort) + ":" +
           std::to_string(port.effectiveContainerPort());
}

// `pinned`: what the service mounted for the bind, bound instead of its
// host path.
std::string bindArgument(const BindMount& bind, const std::string& pinned) {
    std::string flag = bind.readOnly ? "--bind-ro=" : "--bind=";
    if (!pinned.empty()) {
        return flag + pinned + ":" + bind.mountPoint;
    }
    return flag + (bind.hostPath.empty() ? bind.mountPoint : bind.hostPath + ":" + bind.mountPoint);
}

}  // namespace

std::string unitNetworkNamespace(const ContainerSpec& spec, const std::optional<NetworkPlan>& network) {
    if (!spec.userNamespaced()) {
        return {};
    }
    if (network) {
        return network->netnsPin.string();
    }
    return spec.networkNamespace;
}

namespace {

using Argv = std::vector<std::string>;

// The module's $extraFlags, network part. A namespace from the unit is the
// one nspawn starts in: nothing to join, nothing to create.
void addNetwork(Argv& argv, const ContainerSpec& spec, const NspawnInputs& inputs, bool namespaceFromUnit) {
    if (!namespaceFromUnit) {
        if (inputs.network) {
            argv.push_back("--network-namespace-path=" + inputs.network->netnsPin.string());
            if (!spec.forwardPorts.empty()) {
                argv.emplace_back("--private-network");
            }
        } else if (spec.privateNetwork) {
            argv.emplace_back("--private-network");
        } else if (!spec.networkNamespace.empty()) {
            argv.push_back("--network-namespace-path=" + spec.networkNamespace);
        }
    }
    for (const auto& port : spec.forwardPorts) {
        argv.push_back(portArgument(port));
    }
    if (inputs.personalityX86) {
        argv.emplace_back("--personality=x86");
    }
    // Without CopyResolvConf, nspawn's own "auto" copy would put it back.
    // In a namespace from the unit, nspawn takes the network for the host's
    // and "auto" would bind the host's stub resolver over the service's copy.
    if (!spec.copyResolvConf || namespaceFromUnit) {
        argv.emplace_back("--resolv-conf=off");
    }
}

// $EXTRA_NSPAWN_FLAGS: the bind mounts, then the caller's extra flags.
void addCallersWords(Argv& argv, const ContainerSpec& spec, const NspawnInputs& inputs) {
    for (std::size_t index = 0; index < spec.bindMounts.size(); ++index) {
        auto pinned = inputs.pinnedBinds.find(index);
        argv.push_back(bindArgument(spec.bindMounts[index],
                                    pinned == inputs.pinnedBinds.end() ? std::string() : pinned->second));
    }
    argv.insert(argv.end(), spec.extraFlags.begin(), spec.extraFlags.end());
}

// The module's privateUsers, readiness, and the service's own binds of
// /nix. Those are idmapped in a user namespace: the container's root owns
// its profiles and gcroots, and the store's files show as root's, not
// nobody's.
void addServicesWords(Argv& argv, const Settings& settings, const ContainerSpec& spec,
                      const NspawnInputs& inputs) {
    const bool userNamespace = spec.userNamespaced();
    // "identity" maps every uid to itself: nothing to idmap (the kernel refuses).
    const std::string idmap = userNamespace && spec.privateUsers != "identity" ? ":idmap" : "";
    // Right after the caller's words come the service's own, which a word
    // swallowed by an option missing its value would show (nspawnArgvProblem).
    argv.emplace_back("--notify-ready=yes");
    argv.emplace_back("--kill-signal=SIGRTMIN+3");
    if (userNamespace) {
        argv.push_back("--private-users=" + spec.privateUsers);
        argv.emplace_back("--private-users-ownership=auto");
    }
    argv.push_back("--bind-ro=" + settings.storeDir.string() + ":/nix/store" + idmap);
    if (inputs.bindNixDb) {
        argv.push_back("--bind-ro=" + (settings.nixStateDir / "db").string() + ":/nix/var/nix/db");
    }
    if (inputs.bindNixDaemonSocket) {
        argv.push_back("--bind-ro=" + (settings.nixStateDir / "daemon-socket").string() +
                       ":/nix/var/nix/daemon-socket");
    }
    argv.push_back("--bind=" + inputs.paths.profileDir.string() + ":/nix/var/nix/profiles" + idmap);
    argv.push_back("--bind=" + inputs.paths.gcrootsDir.string() + ":/nix/var/nix/gcroots" + idmap);
    if (!spec.ephemeral) {
        argv.emplace_back("--link-journal=try-guest");
    }
}

// The environment the module's init script reads.
void addEnvironment(Argv& argv, const ContainerSpec& spec, const NspawnInputs& inputs) {
    const auto& network = spec.network;
    auto setenv = [&argv](const std::string& variable, const std::string& value) {
        argv.emplace_back("--setenv");
        argv.push_back(variable + "=" + value);
    };
    setenv("PRIVATE_NETWORK", spec.privateNetwork ? "1" : "");
    setenv("HOST_BRIDGE", network.hostBridge);
    setenv("HOST_ADDRESS", network.hostAddress);
    setenv("LOCAL_ADDRESS", network.localAddress);
    setenv("HOST_ADDRESS6", network.hostAddress6);
    setenv("LOCAL_ADDRESS6", network.localAddress6);
    std::vector<std::string> ports;
    for (const auto& port : spec.forwardPorts) {
        ports.push_back(portArgument(port).substr(std::string("--port=").size()));
    }
    setenv("HOST_PORT", joined(ports, ","));
    setenv("PATH", inputs.path);
}

}  // namespace

std::vector<std::string> buildNspawnArgv(const Settings& settings, const NspawnInputs& inputs) {
    const ContainerSpec& spec = *inputs.spec;
    Argv argv = {
        settings.nspawn.string(), "--keep-unit", "-M", inputs.name, "-D", inputs.paths.root.string(),
    };
    addNetwork(argv, spec, inputs, !unitNetworkNamespace(spec, inputs.network).empty());
    addCallersWords(argv, spec, inputs);
    addServicesWords(argv, settings, spec, inputs);
    addEnvironment(argv, spec, inputs);
    if (spec.ephemeral) {
        argv.emplace_back("--ephemeral");
    }
    auto capabilities = spec.effectiveCapabilities();
    if (!capabilities.empty()) {
        argv.push_back("--capability=" + joined(capabilities, ","));
    }
    for (const auto& mount : spec.tmpfs) {
        argv.push_back("--tmpfs=" + mount);
    }
    argv.push_back(inputs.systemInContainer + "/init");
    return argv;
}

}  // namespace nixos_containers
