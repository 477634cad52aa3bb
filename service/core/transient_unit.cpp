#include "transient_unit.h"

#include "validation.h"

namespace nixos_containers {

std::string serviceUnitName(const std::string& container) {
    return kServiceUnitPrefix + container + ".service";
}

std::string declarativeUnitName(const std::string& container) {
    return kDeclarativeUnitPrefix + container + ".service";
}

bool isContainerUnit(const std::string& container, const std::string& unit) {
    return unit == serviceUnitName(container) || unit == declarativeUnitName(container);
}

TransientUnit buildTransientUnit(const TransientUnitInputs& inputs) {
    const ContainerSpec& spec = *inputs.spec;
    TransientUnit unit;
    unit.name = serviceUnitName(inputs.name);
    unit.description = "Container '" + inputs.name + "'";
    unit.syslogIdentifier = "container " + inputs.name;
    unit.timeoutStartUsec = parseTimespanUsec(spec.timeoutStartSec);
    unit.limits = unitLimits(spec);
    for (const auto& device : spec.effectiveAllowedDevices()) {
        unit.deviceAllow.emplace_back(device.node, device.modifier);
    }
    const std::string runPrefix = "/run/";
    if (spec.ephemeral && inputs.root.starts_with(runPrefix)) {
        unit.runtimeDirectory.push_back(inputs.root.substr(runPrefix.size()));
    }
    if (!spec.ephemeral) {
        unit.requiresMountsFor.push_back(inputs.root);
    }
    unit.environment = inputs.environment;
    unit.networkNamespacePath = inputs.networkNamespacePath;
    unit.execStart = inputs.nspawnArgv;
    return unit;
}

}  // namespace nixos_containers
