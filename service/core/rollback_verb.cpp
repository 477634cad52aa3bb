#include "conf_file.h"
#include "container_paths.h"
#include "container_verbs.h"

#include <memory>

namespace nixos_containers {

// `nix-env -p PROFILE --rollback` for a container, then a reload of a running
// one. A container that names its system in the conf (SystemPath) is moved
// back there too: the conf, not the profile, says what it runs.
void rollbackContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    const auto& container = context.registry.at(name);
    auto spec = std::make_shared<ContainerSpec>(container.spec);
    auto conf = container.conf;
    context.background.run(
        name,
        [store = &context.store, settings = &context.settings,
         paths = containerPaths(context.settings, name, container.spec.ephemeral), name, spec, conf] {
            auto previous = store->rollBack(paths, name);
            if (!spec->systemPath.empty()) {
                // A store path, as SystemPath is given, not where this host keeps it.
                spec->systemPath = locateSystem(*settings, previous.system).inContainer.string();
                store->save(name, *spec, conf);
            }
        },
        [&context, operation, spec, conf, next = std::move(next)](const Status& rolled) mutable {
            if (!rolled.ok()) {
                next(rolled);
                return;
            }
            const auto& name = operation->name;
            auto& container = context.registry.at(name);
            if (!spec->systemPath.empty()) {
                container.conf =
                    confFromSpec(*spec, conf, containerPaths(context.settings, name, false).configTextFile);
            }
            container.spec = *spec;
            context.registry.derive(container);
            context.registry.changed(container, {ContainerField::Spec, ContainerField::Generations});
            if (container.state == ContainerState::Running) {
                reloadContainer(context, operation, std::move(next));
            } else {
                next(Done{});
            }
        });
}

}  // namespace nixos_containers
