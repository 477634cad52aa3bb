#include "container_paths.h"
#include "container_verbs.h"

namespace nixos_containers {

namespace {

void removeConfThenData(VerbContext& context, const std::string& name, const StatusCallback& next) {
    try {
        // The conf goes first: from here on the container is gone, even
        // if the service dies while its data is being removed.
        context.store.removeConf(name);
    } catch (const ContainerError& error) {
        next(error);
        return;
    }
    context.registry.at(name).state = ContainerState::Stopped;
    // A root tree can be large: removed off the loop.
    context.background.run(
        name,
        [store = &context.store, stateful = containerPaths(context.settings, name, false),
         ephemeral = containerPaths(context.settings, name, true)] {
            store->removeData(stateful);
            store->removeData(ephemeral);
        },
        [&context, name, next](const Status& removed) {
            context.registry.remove(name);
            next(removed);
        });
}

}  // namespace

void destroyContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    stopContainer(context, operation, [&context, name, next = std::move(next)](const Status& stopped) {
        if (!stopped.ok()) {
            next(stopped);
            return;
        }
        // The stop queued the network's release; the conf waits for it. A
        // service killed in between then still knows whose network it was.
        context.background.run(
            name, [] {}, [&context, name, next](const Status&) { removeConfThenData(context, name, next); });
    });
}

}  // namespace nixos_containers
