#pragma once

#include "background_queue.h"
#include "container_network.h"
#include "container_spec.h"
#include "network_plan.h"
#include "settings.h"

#include <string>

namespace nixos_containers {

// The host side of containers' networks, made and removed off the loop in
// each container's background order.
class HostNetwork {
public:
    HostNetwork(const Settings& settings, ContainerNetwork& network, BackgroundQueue& background)
        : settings_(settings), network_(network), background_(background) {}

    // Removes whatever the spec's plan would have made; never fails (a
    // failure is logged: the next prepare removes stale links first).
    void release(const std::string& container, const ContainerSpec& spec, StatusCallback done);
    // Stale links of a crashed run go first; prepare() undoes its own
    // partial work. Fails with NetworkSetupFailed.
    void prepare(const std::string& container, const NetworkPlan& plan, StatusCallback done);

private:
    const Settings& settings_;
    ContainerNetwork& network_;
    BackgroundQueue& background_;
};

}  // namespace nixos_containers
