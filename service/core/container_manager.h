#pragma once

#include "address_pool.h"
#include "container.h"
#include "container_fields.h"
#include "container_network.h"
#include "container_store.h"
#include "settings.h"
#include "spec_patch.h"
#include "system_seams.h"

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nixos_containers {

// What the D-Bus layer hears from the core: it publishes objects and emits
// PropertiesChanged, ObjectManager and build-output signals from these.
class ContainerObserver {
public:
    virtual ~ContainerObserver() = default;
    virtual void containerAdded(const Container& container) = 0;
    virtual void containerRemoved(const std::string& name) = 0;
    // `fields` may be empty: the operation or the last error changed.
    virtual void containerChanged(const Container& container, ContainerFields fields) = 0;
    virtual void buildOutput(const std::string& name, const std::string& line) = 0;
};

struct Seams {
    SystemdManager& systemd;
    MachineRegistry& machines;
    Authorizer& authorizer;
    ContainerNetwork& network;  // called from the worker, never from the loop
    ProcessRunner& processes;
    Worker& worker;
};

// The verbs that need a container to exist; each is authorised as the
// polkit action actionFor(verb) with details container=NAME, verb=VERB.
enum class Verb { Start, Stop, Restart, Terminate, Reload, Update, Destroy };
std::string_view toString(Verb verb);

// Every container and every operation on them. Runs on the one event loop:
// no method blocks, every completion is called exactly once, and an
// operation holds its container exclusively (a second one gets Busy).
// Validation errors are found before authorisation, and authorisation
// before any side effect.
class ContainerManager {
public:
    ContainerManager(Settings settings, Seams seams, ContainerObserver& observer);
    ~ContainerManager();
    ContainerManager(const ContainerManager&) = delete;
    ContainerManager& operator=(const ContainerManager&) = delete;

    // Loads every container from disk and learns its state from systemd and
    // machined; completes when the service knows the world. AutoStart
    // containers are then started in the background.
    void recover(StatusCallback done);

    [[nodiscard]] const Container* find(const std::string& name) const;
    // Throws NoSuchContainer / InvalidArgument.
    [[nodiscard]] const Container& get(const std::string& name) const;
    [[nodiscard]] const std::map<std::string, Container>& containers() const { return containers_; }

    void create(const Caller& caller, const std::string& name, ContainerSpec spec,
                Callback<std::string> done);
    // The patch is applied to the spec as it is when the update runs.
    void update(const Caller& caller, const std::string& name, SpecPatch patch, StatusCallback done);
    // Start, Stop, Restart, Terminate, Reload, Destroy.
    void perform(const Caller& caller, Verb verb, const std::string& name, StatusCallback done);

    [[nodiscard]] std::size_t operationsInFlight() const { return operationsInFlight_; }

private:
    struct Operation;
    using OperationPtr = std::shared_ptr<Operation>;

    OperationPtr begin(const Caller& caller, const std::string& name, const std::string& verb,
                       StatusCallback done);
    // Completes with ok when `caller` may do `verb` on `name`, else with
    // AccessDenied / InteractiveAuthorizationRequired / LimitsExceeded.
    void authorize(const Caller& caller, const std::string& name, const std::string& verb,
                   StatusCallback done);
    void createAuthorized(const Caller& caller, const std::string& name, ContainerSpec spec,
                          const Callback<std::string>& done);
    void updateAuthorized(const Caller& caller, const std::string& name, const SpecPatch& patch,
                          const StatusCallback& done);
    // The new spec, validated; throws NoSuchContainer, Declarative, InvalidArgument.
    ContainerSpec checkUpdate(const std::string& name, const SpecPatch& patch) const;
    void finish(const OperationPtr& operation, Status status);
    void reconcile(const std::string& name);
    // The container `verb` acts on; throws NoSuchContainer, or Declarative
    // for a Destroy of a declarative one.
    const Container& target(Verb verb, const std::string& name) const;
    // After authorization: take the container and run the verb.
    void performAuthorized(const Caller& caller, Verb verb, const std::string& name, StatusCallback done);
    // A Stop or Terminate while the container starts: the start is cancelled
    // (systemd cancels its job) and the verb runs when the start has ended.
    // False, `done` untouched, when no start is there to cancel.
    bool cancelStart(const Caller& caller, Verb verb, const std::string& name, StatusCallback& done);

    void doStart(const OperationPtr& operation, StatusCallback next);
    void doStop(const OperationPtr& operation, bool terminate, StatusCallback next);
    void doReload(const OperationPtr& operation, StatusCallback next);
    void doDestroy(const OperationPtr& operation, StatusCallback next);
    // Throws InvalidArgument when another container (existing or being
    // created) already forwards one of spec's host ports.
    void checkPortsFree(const std::string& name, const ContainerSpec& spec) const;
    void applyUpdate(const OperationPtr& operation, const ContainerSpec& before, const ContainerSpec& spec);
    void build(const std::string& name, const ContainerSpec& spec, StatusCallback next);
    void runBuilder(const std::string& name, const ContainerSpec& spec, StatusCallback next);
    void afterStopped(const std::string& name, StatusCallback next);
    void refreshFromSystem(const std::string& name, std::function<void()> next);
    void refreshMachine(const std::string& name, std::function<void()> next);
    // Publishes the planned addresses, then machined's when it has them.
    void refreshAddresses(Container& container);

    // Work off the loop, one job at a time per container, in order: a
    // release after a crash can never overtake or race the next prepare.
    void inBackground(const std::string& name, std::function<void()> work, StatusCallback done);
    void runNextInBackground(const std::string& name);
    void releaseNetwork(const std::string& name, const ContainerSpec& spec, StatusCallback done);

    void onUnitChanged(const std::string& unit, const UnitState& state);
    void onMachineChanged(const std::string& name, bool present);
    void setState(Container& container, ContainerState state);
    void setFields(Container& container, ContainerFields fields);
    void publish(Container container);
    void autoStart();

    Settings settings_;
    Seams seams_;
    ContainerObserver& observer_;
    ContainerStore store_;
    AddressPool addresses_;
    std::map<std::string, Container> containers_;
    std::map<std::string, std::string> unitToContainer_;
    std::map<std::string, ContainerSpec> creating_;  // specs of the Creates in progress
    std::map<std::string, ContainerSpec> updating_;  // new specs of the Updates in progress
    static constexpr std::size_t kMaxPendingAuthorizationsPerCaller = 16;
    std::map<std::uint32_t, std::size_t> pendingAuthorizations_;
    std::size_t operationsInFlight_ = 0;
    std::vector<std::string> nspawnEnvironment_;
    // The operation holding each container, while it runs.
    std::map<std::string, std::weak_ptr<Operation>> operations_;
    struct QueuedVerb {
        Caller caller;
        Verb verb;
        StatusCallback done;
    };
    // A Stop or Terminate waiting for the start it cancelled to end.
    std::map<std::string, QueuedVerb> afterCancelledStart_;
    struct BackgroundJob {
        std::function<void()> work;
        StatusCallback done;
    };
    std::map<std::string, std::deque<BackgroundJob>> background_;
};

}  // namespace nixos_containers
