#include "container_paths.h"
#include "container_verbs.h"

#include <utility>

namespace nixos_containers {

namespace {

// The conf goes last: until it is gone, a service killed meanwhile lists
// the container again at its restart.
void removeConfThenForget(VerbContext& context, const std::string& name, const StatusCallback& next) {
    try {
        context.store.removeConf(name);
    } catch (const ContainerError& error) {
        next(error);
        return;
    }
    context.registry.remove(name);
    next(Done{});
}

// The data goes first, the conf last, and the container is forgotten only
// when both are gone: a root that cannot be removed (an immutable file its
// root user made, a mount below it) leaves the container listed, with the
// error as its LastError, and a second Destroy finishes the job. A service
// killed meanwhile finds the conf at its restart and lists it again.
void removeDataThenConf(VerbContext& context, const std::string& name, const StatusCallback& next) {
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
            if (!removed.ok()) {
                next(ContainerError(ErrorCode::IOError,
                                    "container '" + name + "' was not destroyed: " + removed.error().what()));
                return;
            }
            removeConfThenForget(context, name, next);
        });
}

using Removal = void (*)(VerbContext& context, const std::string& name, const StatusCallback& next);

// Stops the container, then removes: after its network's release (queued
// by the stop), so that a service killed in between still knows whose
// network it was.
void stopThenRemove(VerbContext& context, const OperationPtr& operation, StatusCallback next,
                    Removal removal) {
    const auto name = operation->name;
    stopContainer(context, operation,
                  [&context, name, next = std::move(next), removal](const Status& stopped) {
                      if (!stopped.ok()) {
                          next(stopped);
                          return;
                      }
                      context.background.run(
                          name, [] {},
                          [&context, name, next, removal](const Status&) { removal(context, name, next); });
                  });
}

}  // namespace

void forgetContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    stopThenRemove(context, operation, std::move(next), &removeConfThenForget);
}

void destroyContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    stopThenRemove(context, operation, std::move(next), &removeDataThenConf);
}

}  // namespace nixos_containers
