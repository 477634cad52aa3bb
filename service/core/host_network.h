#pragma once

#include "background_queue.h"
#include "bind_pins.h"
#include "container_network.h"
#include "container_spec.h"
#include "network_plan.h"
#include "settings.h"

#include <string>

namespace nixos_containers {

// The host side of containers, made and removed off the loop in each
// container's background order: their networks, and their pinned binds
// (bind_pins.h), which go whenever the network goes.
class HostNetwork {
public:
    HostNetwork(const Settings& settings, ContainerNetwork& network, BindPinner& binds,
                BackgroundQueue& background)
        : settings_(settings), network_(network), binds_(binds), background_(background) {}

    // Removes whatever the spec's plan would have made, and the container's
    // pinned binds; never fails (a failure is logged: the next prepare
    // removes stale links first, the next pin stale pins).
    void release(const std::string& container, const ContainerSpec& spec, StatusCallback done);
    // Stale links of a crashed run go first; prepare() undoes its own
    // partial work. Fails with NetworkSetupFailed.
    void prepare(const std::string& container, const NetworkPlan& plan, StatusCallback done);

private:
    const Settings& settings_;
    ContainerNetwork& network_;
    BindPinner& binds_;
    BackgroundQueue& background_;
};

}  // namespace nixos_containers
