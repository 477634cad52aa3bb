#include "container_paths.h"
#include "container_verbs.h"
#include "log.h"
#include "network_plan.h"
#include "transient_unit.h"

#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

// The container is gone: its network (and an ephemeral root) go too. The
// answer does not wait for the links: deleting one takes the kernel about
// 16 ms, and the module's template does not wait either (it leaves its links
// to the next start's preStart). Their removal runs in the container's
// background queue, so whatever comes next for this container queues behind
// it: a Start (its root skeleton, then "release stale, prepare"), a Destroy's
// removal of the data. Nothing is left once the queue has run. An ephemeral
// root is part of the answer, as before: "gone" includes it.
void afterStopped(VerbContext& context, const std::string& name, StatusCallback next) {
    auto& container = context.registry.at(name);
    container.leader = 0;
    container.machinePath.clear();
    container.timestamp = 0;
    container.osRelease.clear();
    container.addresses = plannedContainerAddresses(container.spec);
    auto answer = [&context, name, next = std::move(next)](const Status&) {
        context.registry.refreshFromSystem(name, [next] { next(Done{}); });
    };
    // Queued now, before anything that comes after the answer.
    context.network.release(name, container.spec, [](const Status&) {});
    if (!container.spec.ephemeral) {
        answer(Done{});
        return;
    }
    context.background.run(
        name,
        [root = containerPaths(context.settings, name, true).root] {
            std::error_code error;
            fs::remove_all(root, error);
        },
        answer);
}

// machined's TerminateMachine, for a machine of ours only: a machine of the
// same name in someone else's unit is not the container, and stopping our
// unit is all a Terminate may do then.
void terminateOwnMachine(VerbContext& context, const std::string& name, StatusCallback done) {
    context.machines.getMachine(name, [&context, name, done = std::move(done)](
                                          Outcome<std::optional<MachineInfo>> found) mutable {
        if (found.ok() && found.value() && !isContainerUnit(name, found.value()->unit)) {
            done(ContainerError(ErrorCode::Failed, foreignMachineError(name, found.value()->unit).what()));
            return;
        }
        context.machines.terminateMachine(name, std::move(done));
    });
}

void stopUnit(VerbContext& context, const std::string& name, const std::string& unit, StatusCallback next) {
    context.systemd.stopUnit(unit, [&context, name, next = std::move(next)](const Status& stopped) {
        if (!stopped.ok()) {
            context.registry.refreshFromSystem(name, [next, stopped] {
                next(ContainerError(ErrorCode::StopFailed, stopped.error().what()));
            });
            return;
        }
        afterStopped(context, name, next);
    });
}

void stop(VerbContext& context, const OperationPtr& operation, bool terminate, StatusCallback next) {
    const auto name = operation->name;
    auto& container = context.registry.at(name);
    const auto unit = container.unit;
    if (container.state == ContainerState::Failed) {
        // Stopping a failed container forgets the failure, as systemctl reset-failed.
        context.systemd.resetFailedUnit(unit, [&context, name, next = std::move(next)](const Status&) {
            afterStopped(context, name, next);
        });
        return;
    }
    // Even a container we believe stopped gets a StopUnit (a no-op for a
    // unit that is not loaded): Destroy must never act on a stale belief.
    if (container.state != ContainerState::Stopped) {
        context.registry.setState(container, ContainerState::Stopping);
    }
    if (!terminate) {
        stopUnit(context, name, unit, std::move(next));
        return;
    }
    terminateOwnMachine(
        context, name, [&context, name, unit, next = std::move(next)](const Status& terminated) {
            // While the start job is pending machined answers EDEADLK; stopping
            // the unit cancels that job and ends the container just the same.
            if (!terminated.ok()) {
                logInfo("terminate '" + name + "' through machined: " + terminated.error().what() +
                        "; stopping its unit instead");
            }
            stopUnit(context, name, unit, next);
        });
}

}  // namespace

void stopContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    stop(context, operation, false, std::move(next));
}

void terminateContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    stop(context, operation, true, std::move(next));
}

}  // namespace nixos_containers
