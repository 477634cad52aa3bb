#include "host_network.h"

#include "log.h"

#include <utility>

namespace nixos_containers {

void HostNetwork::release(const std::string& container, const ContainerSpec& spec, StatusCallback done) {
    auto plan = planNetwork(container, spec, settings_);
    if (!plan && spec.bindMounts.empty()) {
        done(Done{});  // nothing of the host's to remove: no trip off the loop
        return;
    }
    background_.run(
        container,
        [&network = network_, &binds = binds_, plan = std::move(plan),
         pins = bindPinDirectory(settings_, container)] {
            binds.unpin(pins);
            if (plan) {
                network.release(*plan);
            }
        },
        [container, done = std::move(done)](const Status& status) {
            if (!status.ok()) {
                logWarning("cannot release the network or the binds of '" + container +
                           "': " + status.error().what());
            }
            done(Done{});
        });
}

void HostNetwork::prepare(const std::string& container, const NetworkPlan& plan, StatusCallback done) {
    background_.run(
        container,
        [&network = network_, plan] {
            network.release(plan);
            network.prepare(plan);
        },
        [done = std::move(done)](const Status& status) {
            if (!status.ok()) {
                done(ContainerError(ErrorCode::NetworkSetupFailed, status.error().what()));
                return;
            }
            done(Done{});
        });
}

}  // namespace nixos_containers
