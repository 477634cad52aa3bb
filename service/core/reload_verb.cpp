#include "container_paths.h"
#include "container_verbs.h"
#include "process_output.h"

#include <memory>

namespace nixos_containers {

namespace {

ContainerError reloadCancelled(const Operation& operation) {
    return {ErrorCode::ReloadFailed,
            "the reload of '" + operation.name + "' was cancelled by a " + operation.cancelledBy};
}

// The switch's end, unless a Stop or Terminate cancelled it (and killed it).
Status reloadOutcome(const Operation& operation, const Outcome<ProcessExit>& exit, const OutputTail& tail,
                     std::size_t timeoutSec) {
    const auto& name = operation.name;
    if (!operation.cancelledBy.empty()) {
        return reloadCancelled(operation);
    }
    if (!exit.ok()) {
        return ContainerError(ErrorCode::ReloadFailed, exit.error().what());
    }
    if (exit.value().timedOut) {
        return ContainerError(ErrorCode::ReloadFailed, "switch-to-configuration test in '" + name +
                                                           "' timed out after " + std::to_string(timeoutSec) +
                                                           " s and was killed" +
                                                           (tail.text().empty() ? "" : ": " + tail.text()));
    }
    if (!exit.value().success()) {
        return ContainerError(ErrorCode::ReloadFailed, "switch-to-configuration test in '" + name + "' " +
                                                           describeExit(exit.value()) + ": " + tail.text());
    }
    return Done{};
}

}  // namespace

void reloadContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    context.registry.refreshMachine(name, [&context, operation, name, next = std::move(next)]() {
        if (!operation->cancelledBy.empty()) {
            next(reloadCancelled(*operation));
            return;
        }
        const auto& container = context.registry.at(name);
        if (container.state != ContainerState::Running || container.leader == 0) {
            next(ContainerError(ErrorCode::NotRunning, "container '" + name + "' is not running"));
            return;
        }
        ProcessRequest request;
        try {
            auto system = locateSystem(context.settings, container.systemOnHost.native());
            request.argv = {(system.inContainer / "bin/switch-to-configuration").string(), "test"};
        } catch (const ContainerError& error) {
            next(ContainerError(ErrorCode::ReloadFailed, error.what()));
            return;
        }
        request.environment = {"PATH=/run/current-system/sw/bin:/run/current-system/sw/sbin",
                               "container=nspawn"};
        request.namespacesOf = static_cast<pid_t>(container.leader);
        // The script is the container's: it may never end.
        const auto timeoutSec = context.settings.reloadTimeoutSec;
        request.timeoutUsec = static_cast<std::uint64_t>(timeoutSec) * 1'000'000U;
        auto tail = std::make_shared<OutputTail>();
        operation->process = context.processes.run(
            request, [tail](const std::string& line) { tail->add(line); },
            [operation, tail, timeoutSec, next](const Outcome<ProcessExit>& exit) {
                operation->process.reset();
                next(reloadOutcome(*operation, exit, *tail, timeoutSec));
            });
    });
}

}  // namespace nixos_containers
