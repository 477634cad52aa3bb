#include "container_spec.h"

#include "spec_keys.h"
#include "unit_limits.h"

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
    const auto keys = specKeys();
    return std::any_of(keys.begin(), keys.end(), [&](const SpecKey& key) {
        return key.systemSource && key.get(before) != key.get(after);
    });
}

UpdateEffect classifyUpdate(const ContainerSpec& before, const ContainerSpec& after) {
    // The most any changed key asks for; None < Live < Reload < Restart.
    UpdateEffect effect = UpdateEffect::None;
    for (const auto& key : specKeys()) {
        const auto asked = updateEffectOf(key);
        if (asked > effect && key.get(before) != key.get(after)) {
            effect = asked;
        }
    }
    if (clearingNeedsRestart(before, after)) {
        effect = UpdateEffect::Restart;
    }
    return effect;
}

}  // namespace nixos_containers
