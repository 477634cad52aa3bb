#pragma once

#include "background_queue.h"
#include "bind_pins.h"
#include "builder.h"
#include "container_registry.h"
#include "container_store.h"
#include "host_network.h"
#include "operation_scheduler.h"
#include "settings.h"
#include "system_seams.h"

#include <string>
#include <vector>

namespace nixos_containers {

// Begins and finishes operations with the container bookkeeping around
// them (ContainerManager): for the verbs that take their container after
// their own checks (Create, Update).
class OperationControl {
public:
    virtual ~OperationControl() = default;
    // Null (and `done` answered) when the limit is reached.
    virtual OperationPtr begin(const Caller& caller, const std::string& name, const std::string& verb,
                               StatusCallback done) = 0;
    virtual void finish(const OperationPtr& operation, Status status) = 0;
};

// Everything a verb may use, passed in: verbs keep no state of their own
// and know nothing of each other beyond the steps they compose.
struct VerbContext {
    const Settings& settings;
    ContainerRegistry& registry;
    ContainerStore& store;
    HostNetwork& network;
    BackgroundQueue& background;
    Builder& builder;
    OperationControl& operations;
    SystemdManager& systemd;
    MachineRegistry& machines;
    ProcessRunner& processes;
    BindPinner& binds;  // called off the loop (background)
    // nspawn must reach the same bus as the service.
    const std::vector<std::string>& nspawnEnvironment;
};

}  // namespace nixos_containers
