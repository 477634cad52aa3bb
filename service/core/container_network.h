#pragma once

#include "network_plan.h"

namespace nixos_containers {

// The host side of containers' networks. The real implementation
// (service/netlink) speaks netlink in process; tests use a fake.
//
// prepare() creates the network namespace pinned at plan.netnsPin, then for
// each veth: the pair, the container end moved in and renamed, both ends up,
// and the module's addressing:
//  - addresses without a bridge: host end gets hostAddress (/32, or /128 for
//    v6, unless a prefix is given) and a route to localAddress; the container
//    end gets localAddress, a route to hostAddress, and a default route via it;
//  - with hostBridge: the host end is enslaved to the bridge and up; the
//    container end gets localAddress with its prefix.
// Interfaces are moved in; a macvlan "mv-PARENT" is created for each parent.
// Loopback inside is brought up; with plan.unprivilegedRoot, the namespace's
// net.ipv4.ip_unprivileged_port_start is 0 and net.ipv4.ping_group_range
// spans every gid. By the time prepare() returns, everything
// is configured, so the container's init has its network from its first
// instruction.
//
// prepare() throws ContainerError(NetworkSetupFailed) with the netlink error
// text and leaves nothing behind. release() removes whatever exists for the
// plan (links found by altname or namespace, the pin unmounted and deleted);
// it is idempotent and works after a crash of the service.
class ContainerNetwork {
public:
    virtual ~ContainerNetwork() = default;
    virtual void prepare(const NetworkPlan& plan) = 0;
    virtual void release(const NetworkPlan& plan) = 0;
};

}  // namespace nixos_containers
