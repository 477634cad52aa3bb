#include "container_verbs.h"

namespace nixos_containers {

void restartContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    stopContainer(context, operation, [&context, operation, next](const Status& stopped) {
        if (!stopped.ok()) {
            next(stopped);
            return;
        }
        startContainer(context, operation, next);
    });
}

}  // namespace nixos_containers
