#include "container_state.h"

namespace nixos_containers {

std::string_view toString(ContainerState state) {
    switch (state) {
        case ContainerState::Stopped:
            return "stopped";
        case ContainerState::Starting:
            return "starting";
        case ContainerState::Running:
            return "running";
        case ContainerState::Stopping:
            return "stopping";
        case ContainerState::Failed:
            return "failed";
    }
    return "failed";
}

ContainerState stateFromUnit(const UnitState& unit) {
    const auto& active = unit.activeState;
    if (active == "active" || active == "reloading") {
        return ContainerState::Running;
    }
    if (active == "activating") {
        // "auto-restart" is activating too: systemd is bringing it back.
        return ContainerState::Starting;
    }
    if (active == "deactivating") {
        return ContainerState::Stopping;
    }
    if (active == "failed") {
        return ContainerState::Failed;
    }
    return ContainerState::Stopped;
}

}  // namespace nixos_containers
