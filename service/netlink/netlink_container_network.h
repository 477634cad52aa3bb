#pragma once

#include "container_network.h"

namespace nixos_containers {

// ContainerNetwork over rtnetlink, in process (service/netlink/netlink.h).
// Stateless: every call opens its own sockets, so calls for different
// containers may run on different threads, and a fresh instance can release
// what a crashed service prepared.
class NetlinkContainerNetwork final : public ContainerNetwork {
public:
    void prepare(const NetworkPlan& plan) override;
    void release(const NetworkPlan& plan) override;
};

}  // namespace nixos_containers
