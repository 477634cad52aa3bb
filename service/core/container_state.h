#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nixos_containers {

enum class ContainerState { Stopped, Starting, Running, Stopping, Failed };

std::string_view toString(ContainerState state);

// What systemd says about a unit (ActiveState, SubState, Result).
struct UnitState {
    std::string activeState = "inactive";
    std::string subState;
    std::string result;
    bool operator==(const UnitState&) const = default;
};

// The state a container is in, given its unit: the real world decides.
// activating/reloading map to starting/running, deactivating to stopping.
ContainerState stateFromUnit(const UnitState& unit);

}  // namespace nixos_containers
