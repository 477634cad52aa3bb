#include "conf_file.h"
#include "container_paths.h"
#include "container_verbs.h"

#include <memory>
#include <optional>

namespace nixos_containers {

namespace {
// `nix-env -p PROFILE --switch-generation N` (or, without N, --rollback) for
// a container, then a reload of a running one. A container that names its
// system in the conf (SystemPath) is moved there too: the conf, not the
// profile, says what it runs.
void switchTo(VerbContext& context, const OperationPtr& operation, std::optional<std::uint32_t> generation,
              StatusCallback next) {
    const auto name = operation->name;
    const auto& container = context.registry.get(name);
    std::shared_ptr<ContainerChange> change;
    try {
        // Its network stays as it is: only the system changes.
        change = std::make_shared<ContainerChange>(
            context.registry.beginChange(name, container.spec, ContainerRegistry::PoolPair::Keep));
    } catch (const ContainerError& error) {
        next(error);
        return;
    }
    auto spec = std::make_shared<ContainerSpec>(container.spec);
    auto conf = std::make_shared<EnvFile>(container.conf);
    context.background.run(
        name,
        [store = &context.store, settings = &context.settings,
         paths = containerPaths(context.settings, name, container.spec.ephemeral), name, spec, conf,
         generation] {
            auto switched =
                generation ? store->switchGeneration(paths, name, *generation) : store->rollBack(paths, name);
            if (!spec->systemPath.empty()) {
                // A store path, as SystemPath is given, not where this host keeps it.
                spec->systemPath = locateSystem(*settings, switched.system).inContainer.string();
                *conf = store->save(name, *spec, *conf);
            }
        },
        [&context, operation, change, spec, conf, next = std::move(next)](const Status& rolled) mutable {
            if (!rolled.ok()) {
                change->rollback();
                next(rolled);
                return;
            }
            // The profile moved even without a new conf: the generations change.
            change->commit(*spec, *conf);
            if (context.registry.get(operation->name).state == ContainerState::Running) {
                reloadContainer(context, operation, std::move(next));
            } else {
                next(Done{});
            }
        });
}

}  // namespace

void rollbackContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    switchTo(context, operation, std::nullopt, std::move(next));
}

void switchContainerGeneration(VerbContext& context, const OperationPtr& operation, std::uint32_t generation,
                               StatusCallback next) {
    switchTo(context, operation, generation, std::move(next));
}

}  // namespace nixos_containers
