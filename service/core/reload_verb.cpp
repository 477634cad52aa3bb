#include "container_paths.h"
#include "container_verbs.h"
#include "process_output.h"

#include <memory>

namespace nixos_containers {

void reloadContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    context.registry.refreshMachine(name, [&context, name, next = std::move(next)]() {
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
        auto tail = std::make_shared<OutputTail>();
        context.processes.run(
            request, [tail](const std::string& line) { tail->add(line); },
            [name, tail, next](const Outcome<ProcessExit>& exit) {
                if (!exit.ok()) {
                    next(ContainerError(ErrorCode::ReloadFailed, exit.error().what()));
                } else if (!exit.value().success()) {
                    next(ContainerError(ErrorCode::ReloadFailed, "switch-to-configuration test in '" + name +
                                                                     "' " + describeExit(exit.value()) +
                                                                     ": " + tail->text()));
                } else {
                    next(Done{});
                }
            });
    });
}

}  // namespace nixos_containers
