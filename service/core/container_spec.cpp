#include "container_spec.h"

#include <algorithm>

namespace nixos_containers {

std::vector<AllowedDevice> ContainerSpec::effectiveAllowedDevices() const {
    auto devices = allowedDevices;
    if (enableTun) {
        AllowedDevice tun{"/dev/net/tun", "rw"};
        if (std::find(devices.begin(), devices.end(), tun) == devices.end()) {
            devices.push_back(tun);
        }
    }
    return devices;
}

std::vector<std::string> ContainerSpec::effectiveCapabilities() const {
    auto capabilities = additionalCapabilities;
    if (enableTun &&
        std::find(capabilities.begin(), capabilities.end(), "CAP_NET_ADMIN") == capabilities.end()) {
        capabilities.emplace_back("CAP_NET_ADMIN");
    }
    return capabilities;
}

bool sourceChanged(const ContainerSpec& before, const ContainerSpec& after) {
    return before.systemPath != after.systemPath || before.config != after.config ||
           before.configFile != after.configFile || before.flake != after.flake;
}

UpdateEffect classifyUpdate(const ContainerSpec& before, const ContainerSpec& after) {
    // autoStart only matters when the service starts; it changes nothing live.
    auto runtimeView = [](ContainerSpec spec) {
        spec.systemPath.clear();
        spec.config.clear();
        spec.configFile.clear();
        spec.flake.clear();
        spec.autoStart = false;
        return spec;
    };
    if (runtimeView(before) != runtimeView(after)) {
        return UpdateEffect::Restart;
    }
    if (sourceChanged(before, after)) {
        return UpdateEffect::Reload;
    }
    return UpdateEffect::None;
}

}  // namespace nixos_containers
