#include "container_json.h"

namespace nixos_containers {

namespace {
nlohmann::json networkJson(const NetworkOptions& options) {
    return {{"HostAddress", options.hostAddress},
            {"LocalAddress", options.localAddress},
            {"HostAddress6", options.hostAddress6},
            {"LocalAddress6", options.localAddress6},
            {"HostBridge", options.hostBridge}};
}
}  // namespace

nlohmann::json toJson(const Container& container) {
    const auto& spec = container.spec;
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& port : spec.forwardPorts) {
        ports.push_back({{"Protocol", port.protocol},
                         {"HostPort", port.hostPort},
                         {"ContainerPort", port.containerPort == 0 ? port.hostPort : port.containerPort}});
    }
    nlohmann::json binds = nlohmann::json::array();
    for (const auto& bind : spec.bindMounts) {
        binds.push_back({{"MountPoint", bind.mountPoint},
                         {"HostPath", bind.hostPath.empty() ? bind.mountPoint : bind.hostPath},
                         {"ReadOnly", bind.readOnly}});
    }
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& device : spec.allowedDevices) {
        devices.push_back({{"Node", device.node}, {"Modifier", device.modifier}});
    }
    nlohmann::json veths = nlohmann::json::object();
    for (const auto& [name, options] : spec.extraVeths) {
        veths[name] = networkJson(options);
    }
    nlohmann::json json = {
        {"Name", container.name},
        {"State", std::string(toString(container.state))},
        {"Declarative", container.declarative},
        {"Unit", container.unit},
        {"Leader", container.leader},
        {"HostInterface", container.hostInterface},
        {"RootDirectory", container.root.string()},
        {"Addresses", container.addresses},
        {"Operation", container.operation},
        {"LastError", container.lastError},
        {"SystemPath", spec.systemPath.empty() ? container.systemOnHost.string() : spec.systemPath},
        {"Config", spec.config},
        {"ConfigFile", spec.configFile},
        {"Flake", spec.flake},
        {"PrivateNetwork", spec.privateNetwork},
        {"ForwardPorts", ports},
        {"BindMounts", binds},
        {"Tmpfs", spec.tmpfs},
        {"AdditionalCapabilities", spec.additionalCapabilities},
        {"AllowedDevices", devices},
        {"EnableTun", spec.enableTun},
        {"Ephemeral", spec.ephemeral},
        {"AutoStart", spec.autoStart},
        {"TimeoutStartSec", spec.timeoutStartSec},
        {"ExtraVeths", veths},
        {"Interfaces", spec.interfaces},
        {"Macvlans", spec.macvlans},
        {"ExtraFlags", spec.extraFlags},
    };
    json.update(networkJson(spec.network));
    return json;
}

}  // namespace nixos_containers
