#include "container_manager.h"

#include "log.h"
#include "network_plan.h"
#include "nspawn_command.h"
#include "transient_unit.h"
#include "validation.h"

#include <csignal>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <system_error>
#include <utility>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

// What an applied Update may change.
const ContainerFields kUpdatedFields = {ContainerField::Spec, ContainerField::HostInterface,
                                        ContainerField::RootDirectory, ContainerField::Addresses};

std::string actionFor(std::string_view verb) {
    if (verb == "create") {
        return "org.nixos.containers.create";
    }
    if (verb == "update") {
        return "org.nixos.containers.update";
    }
    if (verb == "destroy") {
        return "org.nixos.containers.destroy";
    }
    return "org.nixos.containers.manage";
}

Status ok() {
    return Done{};
}

ContainerError withCode(ErrorCode code, const ContainerError& error) {
    return {code, error.what()};
}

// Keeps the last lines of a child's output for an error message.
class OutputTail {
public:
    void add(const std::string& line) {
        lines_.push_back(line);
        if (lines_.size() > 5) {
            lines_.pop_front();
        }
    }
    [[nodiscard]] std::string text() const {
        std::string out;
        for (const auto& line : lines_) {
            out += (out.empty() ? "" : " | ") + line;
        }
        return out;
    }

private:
    std::deque<std::string> lines_;
};

std::string describeExit(const ProcessExit& exit) {
    return exit.signal != 0 ? "was killed by signal " + std::to_string(exit.signal)
                            : "exited with status " + std::to_string(exit.exitStatus);
}

bool isI686System(const fs::path& system) {
    std::ifstream in(system / "system");
    std::string word;
    in >> word;
    return word == "i686-linux";
}

}  // namespace

std::string_view toString(Verb verb) {
    switch (verb) {
        case Verb::Start:
            return "start";
        case Verb::Stop:
            return "stop";
        case Verb::Restart:
            return "restart";
        case Verb::Terminate:
            return "terminate";
        case Verb::Reload:
            return "reload";
        case Verb::Update:
            return "update";
        case Verb::Destroy:
            return "destroy";
    }
    return "start";
}

struct ContainerManager::Operation {
    Caller caller;
    std::string name;
    std::string verb;
    StatusCallback done;
    bool finished = false;
    bool creating = false;
    // A start (or restart) a Stop or Terminate cancelled: it gives up at its
    // next step, or systemd cancels the job it waits for.
    std::string cancelledBy;
    std::string unitStarting;  // the unit whose start job it waits for
};

namespace {
ContainerError cancelledError(const std::string& verb, const std::string& name, const std::string& by) {
    return {ErrorCode::StartFailed, "the " + verb + " of '" + name + "' was cancelled by a " + by};
}
}  // namespace

ContainerManager::ContainerManager(Settings settings, Seams seams, ContainerObserver& observer)
    : settings_(std::move(settings)), seams_(seams), observer_(observer), store_(settings_) {
    // nspawn must reach the same bus as the service: pass a non-default bus on.
    if (const char* bus = std::getenv("DBUS_SYSTEM_BUS_ADDRESS"); bus != nullptr) {
        nspawnEnvironment_.push_back(std::string("DBUS_SYSTEM_BUS_ADDRESS=") + bus);
    }
}

ContainerManager::~ContainerManager() = default;

const Container* ContainerManager::find(const std::string& name) const {
    auto found = containers_.find(name);
    return found == containers_.end() ? nullptr : &found->second;
}

const Container& ContainerManager::get(const std::string& name) const {
    validateName(name);
    const auto* container = find(name);
    if (container == nullptr) {
        throw ContainerError(ErrorCode::NoSuchContainer, "no container named '" + name + "'");
    }
    return *container;
}

// ---------------------------------------------------------------- bookkeeping

ContainerManager::OperationPtr ContainerManager::begin(const Caller& caller, const std::string& name,
                                                       const std::string& verb, StatusCallback done) {
    if (operationsInFlight_ >= settings_.maxOperations) {
        done(ContainerError(
            ErrorCode::LimitsExceeded,
            "too many operations in flight (" + std::to_string(operationsInFlight_) + "); try again later"));
        return nullptr;
    }
    auto operation = std::make_shared<Operation>();
    operation->caller = caller;
    operation->name = name;
    operation->verb = verb;
    operation->done = std::move(done);
    ++operationsInFlight_;
    if (auto found = containers_.find(name); found != containers_.end()) {
        found->second.operation = verb;
        observer_.containerChanged(found->second, {});
    }
    operations_[name] = operation;
    return operation;
}

void ContainerManager::finish(const OperationPtr& operation, Status status) {
    if (operation->finished) {
        logError("operation " + operation->verb + " on '" + operation->name + "' answered twice");
        return;
    }
    operation->finished = true;
    --operationsInFlight_;
    if (auto held = operations_.find(operation->name);
        held != operations_.end() && held->second.lock() == operation) {
        operations_.erase(held);
    }
    if (auto found = containers_.find(operation->name); found != containers_.end() && !operation->creating) {
        auto& container = found->second;
        container.operation.clear();
        container.lastError = status.ok() ? "" : status.error().what();
        observer_.containerChanged(container, {});
    }
    if (!status.ok()) {
        logWarning(operation->verb + " '" + operation->name + "' failed: " + status.error().what());
    }
    auto done = std::move(operation->done);
    done(std::move(status));
    if (auto queued = afterCancelledStart_.find(operation->name); queued != afterCancelledStart_.end()) {
        auto next = std::move(queued->second);
        afterCancelledStart_.erase(queued);
        performAuthorized(next.caller, next.verb, operation->name, std::move(next.done));
        return;  // it reconciles when it ends
    }
    if (!operation->creating) {
        reconcile(operation->name);
    }
}

bool ContainerManager::cancelStart(const Caller& caller, Verb verb, const std::string& name,
                                   StatusCallback& done) {
    auto held = operations_.find(name);
    auto operation = held == operations_.end() ? nullptr : held->second.lock();
    if (!operation ||
        (operation->verb != toString(Verb::Start) && operation->verb != toString(Verb::Restart)) ||
        !operation->cancelledBy.empty() || afterCancelledStart_.contains(name)) {
        return false;
    }
    operation->cancelledBy = toString(verb);
    afterCancelledStart_.emplace(name, QueuedVerb{caller, verb, std::move(done)});
    logInfo("cancelling the " + operation->verb + " of '" + name + "' for a " + operation->cancelledBy);
    if (!operation->unitStarting.empty()) {
        // Killed, not halted: the container never became ready, and nspawn
        // loses a halt request that comes before the container's init runs
        // (the stop would then wait for the stop timeout). The start's job
        // fails; the Stop or Terminate then finds a failed unit.
        seams_.systemd.killUnit(operation->unitStarting, SIGKILL, [name](const Status& killed) {
            if (!killed.ok()) {
                logWarning("cannot cancel the start of '" + name + "': " + killed.error().what());
            }
        });
    }
    return true;
}

void ContainerManager::reconcile(const std::string& name) {
    // Unit signals that came during the operation were only shown, not
    // acted on: ask systemd once more, and clean up after a container that
    // went away meanwhile.
    const auto* container = find(name);
    if (container == nullptr || !container->operation.empty()) {
        return;
    }
    auto before = container->state;
    refreshFromSystem(name, [this, name, before] {
        auto found = containers_.find(name);
        if (found == containers_.end() || !found->second.operation.empty()) {
            return;
        }
        auto now = found->second.state;
        if (now != before && (now == ContainerState::Stopped || now == ContainerState::Failed)) {
            releaseNetwork(name, found->second.spec, [](const Status&) {});
        }
    });
}

void ContainerManager::authorize(const Caller& caller, const std::string& name, const std::string& verb,
                                 StatusCallback done) {
    // As systemd does: root needs no polkit, and the service itself neither.
    if (caller.internal || caller.uid == 0) {
        done(ok());
        return;
    }
    // A caller whose polkit agent never answers must not pile up checks.
    auto& pending = pendingAuthorizations_[caller.uid];
    if (pending >= kMaxPendingAuthorizationsPerCaller) {
        done(ContainerError(ErrorCode::LimitsExceeded, "uid " + std::to_string(caller.uid) + " has " +
                                                           std::to_string(pending) +
                                                           " authorizations pending; try again later"));
        return;
    }
    ++pending;
    const auto actionId = actionFor(verb);
    std::map<std::string, std::string> details = {{"container", name}, {"verb", verb}};
    seams_.authorizer.check(
        caller, actionId, details,
        [this, uid = caller.uid, name, verb, actionId,
         done = std::move(done)](Outcome<Authorization> answer) {
            if (--pendingAuthorizations_[uid] == 0) {
                pendingAuthorizations_.erase(uid);
            }
            const auto who = "uid " + std::to_string(uid);
            const auto what = actionId + " (" + verb + " '" + name + "')";
            if (!answer.ok()) {
                // No polkit is a denial, never an open door.
                done(ContainerError(ErrorCode::AccessDenied,
                                    "cannot check authorization of " + what + ": " + answer.error().what()));
                return;
            }
            switch (answer.value()) {
                case Authorization::Allowed:
                    done(ok());
                    return;
                case Authorization::ChallengeRequired:
                    done(ContainerError(ErrorCode::InteractiveAuthorizationRequired,
                                        who + " must authenticate for " + what +
                                            "; call with interactive authorization allowed"));
                    return;
                case Authorization::Denied:
                    done(ContainerError(ErrorCode::AccessDenied, who + " is not authorized for " + what));
                    return;
            }
        });
}

void ContainerManager::setState(Container& container, ContainerState state) {
    if (container.state == state) {
        return;
    }
    container.state = state;
    if (state != ContainerState::Running && state != ContainerState::Starting) {
        container.leader = 0;
    }
    observer_.containerChanged(container, {ContainerField::State, ContainerField::Leader});
}

void ContainerManager::setFields(Container& container, ContainerFields fields) {
    observer_.containerChanged(container, fields);
}

void ContainerManager::inBackground(const std::string& name, std::function<void()> work,
                                    StatusCallback done) {
    auto& queue = background_[name];
    queue.push_back({std::move(work), std::move(done)});
    if (queue.size() == 1) {
        runNextInBackground(name);
    }
}

void ContainerManager::runNextInBackground(const std::string& name) {
    seams_.worker.run(background_[name].front().work, [this, name](Status status) {
        auto& queue = background_[name];
        auto done = std::move(queue.front().done);
        queue.pop_front();
        if (queue.empty()) {
            background_.erase(name);
        } else {
            runNextInBackground(name);
        }
        done(std::move(status));
    });
}

void ContainerManager::releaseNetwork(const std::string& name, const ContainerSpec& spec,
                                      StatusCallback done) {
    auto plan = planNetwork(name, spec, settings_);
    if (!plan) {
        done(ok());
        return;
    }
    inBackground(
        name, [&network = seams_.network, plan = std::move(*plan)] { network.release(plan); },
        [name, done = std::move(done)](Status status) {
            if (!status.ok()) {
                logWarning("cannot release the network of '" + name + "': " + status.error().what());
            }
            done(ok());
        });
}

// ---------------------------------------------------------------- discovery

void ContainerManager::recover(StatusCallback done) {
    std::vector<std::string> problems;
    auto entries = store_.loadAll(problems);
    for (const auto& problem : problems) {
        logWarning("skipping container conf: " + problem);
    }
    for (auto& entry : entries) {
        Container container;
        container.name = std::move(entry.name);
        container.spec = std::move(entry.spec);
        container.conf = std::move(entry.conf);
        container.declarative = entry.declarative;
        publish(std::move(container));
    }
    seams_.systemd.watchUnits(
        {kServiceUnitPrefix, kDeclarativeUnitPrefix},
        [this](const std::string& unit, const UnitState& state) { onUnitChanged(unit, state); });
    seams_.machines.watchMachines(
        [this](const std::string& name, bool present) { onMachineChanged(name, present); });

    seams_.systemd.listUnits(
        {"nixos-container@*.service", "container@*.service"},
        [this, done = std::move(done)](Outcome<std::map<std::string, UnitState>> units) mutable {
            // Without the world's answer every container would look stopped, and
            // AutoStart would start again what runs: fail, and let systemd retry.
            if (!units.ok()) {
                done(ContainerError(ErrorCode::Failed,
                                    std::string("cannot list units: ") + units.error().what()));
                return;
            }
            seams_.machines.listMachines([this, units = std::move(units), done = std::move(done)](
                                             Outcome<std::vector<MachineInfo>> machines) {
                if (!machines.ok()) {
                    done(ContainerError(ErrorCode::Failed,
                                        std::string("cannot list machines: ") + machines.error().what()));
                    return;
                }
                std::map<std::string, MachineInfo> machineByName;
                if (machines.ok()) {
                    for (const auto& machine : machines.value()) {
                        machineByName[machine.name] = machine;
                    }
                }
                for (auto& [name, container] : containers_) {
                    if (auto machine = machineByName.find(name); machine != machineByName.end()) {
                        // Whoever started it (us, the NixOS template), its unit is the truth.
                        if (!machine->second.unit.empty()) {
                            container.unit = machine->second.unit;
                            unitToContainer_[container.unit] = name;
                        }
                        container.leader = machine->second.leader;
                    }
                    UnitState unitState;
                    if (units.ok()) {
                        if (auto found = units.value().find(container.unit); found != units.value().end()) {
                            unitState = found->second;
                        }
                    }
                    container.state = stateFromUnit(unitState);
                    if (container.state != ContainerState::Running) {
                        container.leader = 0;
                    }
                    observer_.containerChanged(
                        container, {ContainerField::State, ContainerField::Leader, ContainerField::Unit});
                }
                // A container that stopped while the service was down left its
                // network behind (no one was there to release it): release it now.
                // Queued per container, so an AutoStart below runs after it.
                for (const auto& [name, container] : containers_) {
                    if (container.state == ContainerState::Stopped ||
                        container.state == ContainerState::Failed) {
                        releaseNetwork(name, container.spec, [](const Status&) {});
                    }
                }
                done(ok());
                autoStart();
            });
        });
}

void ContainerManager::publish(Container container) {
    const auto& name = container.name;
    auto serviceUnit = serviceUnitName(name);
    auto declarativeUnit = declarativeUnitName(name);
    container.unit = container.declarative ? declarativeUnit : serviceUnit;
    container.root = rootPath(settings_, name, container.spec.ephemeral);
    if (!container.spec.systemPath.empty()) {
        try {
            container.systemOnHost = systemOnHost(settings_, container.spec.systemPath);
        } catch (const ContainerError&) {
            container.systemOnHost = container.spec.systemPath;
        }
    } else {
        std::error_code error;
        container.systemOnHost = fs::canonical(systemLinkPath(settings_, name), error);
    }
    // planNetwork's main veth, without planning the rest.
    if (hasMainVeth(container.spec)) {
        container.hostInterface = hostInterfaceName(name);
    } else {
        container.hostInterface.clear();
    }
    container.addresses = plannedContainerAddresses(container.spec);
    addresses_.noteUsed(container.spec);
    unitToContainer_.insert_or_assign(std::move(serviceUnit), name);
    unitToContainer_.insert_or_assign(std::move(declarativeUnit), name);
    auto [where, inserted] = containers_.insert_or_assign(name, std::move(container));
    if (inserted) {
        observer_.containerAdded(where->second);
    }
}

void ContainerManager::autoStart() {
    Caller service;
    service.internal = true;
    for (const auto& [name, container] : containers_) {
        if (!container.spec.autoStart || container.state == ContainerState::Running ||
            container.state == ContainerState::Starting || !container.operation.empty()) {
            continue;
        }
        logInfo("starting '" + name + "' (AutoStart)");
        perform(service, Verb::Start, name, [started = name](const Status& status) {
            if (!status.ok()) {
                logWarning("AutoStart of '" + started + "' failed: " + status.error().what());
            }
        });
    }
}

void ContainerManager::refreshFromSystem(const std::string& name, std::function<void()> next) {
    const auto* container = find(name);
    if (container == nullptr) {
        next();
        return;
    }
    seams_.systemd.unitState(container->unit, [this, name, asked = container->unitEvents,
                                               next = std::move(next)](Outcome<UnitState> state) {
        auto found = containers_.find(name);
        if (found != containers_.end() && state.ok() && found->second.unitEvents == asked) {
            setState(found->second, stateFromUnit(state.value()));
        }
        next();
    });
}

void ContainerManager::refreshMachine(const std::string& name, std::function<void()> next) {
    seams_.machines.getMachine(
        name, [this, name, next = std::move(next)](Outcome<std::optional<MachineInfo>> machine) mutable {
            auto found = containers_.find(name);
            if (found != containers_.end()) {
                auto& container = found->second;
                // A machine of that name while the container is not running
                // is somebody else's (or a stale one): not its leader.
                const bool running =
                    container.state == ContainerState::Running || container.state == ContainerState::Starting;
                container.leader = running && machine.ok() && machine.value() ? machine.value()->leader : 0;
                refreshAddresses(container);
            }
            next();
        });
}

void ContainerManager::refreshAddresses(Container& container) {
    // Until machined says otherwise (and always without a private network,
    // where machined would report the host's addresses).
    container.addresses = plannedContainerAddresses(container.spec);
    setFields(container, {ContainerField::Leader, ContainerField::Addresses});
    if (container.leader == 0 || !container.spec.privateNetwork) {
        return;
    }
    // machined reads them inside the container, which takes milliseconds:
    // nobody waits, PropertiesChanged follows.
    seams_.machines.machineAddresses(container.name, [this, name = container.name, leader = container.leader](
                                                         Outcome<std::vector<std::string>> addresses) {
        auto found = containers_.find(name);
        // Stopped or started again meanwhile: not its addresses.
        if (found == containers_.end() || found->second.leader != leader || !addresses.ok() ||
            addresses.value().empty()) {
            return;
        }
        found->second.addresses = addresses.value();
        setFields(found->second, {ContainerField::Addresses});
    });
}

void ContainerManager::onUnitChanged(const std::string& unit, const UnitState& state) {
    auto owner = unitToContainer_.find(unit);
    if (owner == unitToContainer_.end()) {
        return;
    }
    auto found = containers_.find(owner->second);
    if (found == containers_.end()) {
        return;
    }
    auto& container = found->second;
    if (container.unit != unit && state.activeState != "active" && state.activeState != "activating") {
        return;  // news about the other unit name, which is not running it
    }
    if (!container.operation.empty()) {
        // Show progress live; the operation settles the final state itself.
        auto live = stateFromUnit(state);
        if (live == ContainerState::Starting || live == ContainerState::Stopping) {
            setState(container, live);
        }
        return;
    }
    // Applied from here on: older answers to state queries must not undo it.
    ++container.unitEvents;
    container.unit = unit;
    auto before = container.state;
    setState(container, stateFromUnit(state));
    const auto name = container.name;
    if (container.state == ContainerState::Running && before != ContainerState::Running) {
        refreshMachine(name, [] {});
    }
    if ((container.state == ContainerState::Stopped || container.state == ContainerState::Failed) &&
        before != container.state) {
        // It went away by itself (poweroff inside, crash): clean up its host side too.
        releaseNetwork(name, container.spec, [](const Status&) {});
    }
}

void ContainerManager::onMachineChanged(const std::string& name, bool present) {
    auto found = containers_.find(name);
    if (found == containers_.end()) {
        return;
    }
    if (found->second.operation.empty()) {
        refreshMachine(name, [] {});
        return;
    }
    // nspawn registers the machine well before the init is ready: learn the
    // leader now, so that a Start can answer as soon as its job is done.
    if (present && found->second.state == ContainerState::Starting) {
        seams_.machines.getMachine(name, [this, name](Outcome<std::optional<MachineInfo>> machine) {
            auto found = containers_.find(name);
            if (found != containers_.end() && found->second.state == ContainerState::Starting &&
                machine.ok() && machine.value()) {
                found->second.leader = machine.value()->leader;
                setFields(found->second, {ContainerField::Leader});
            }
        });
    }
}

// ---------------------------------------------------------------- create

void ContainerManager::checkPortsFree(const std::string& name, const ContainerSpec& spec) const {
    auto clash = [&spec](const ContainerSpec& other) -> const PortForward* {
        for (const auto& port : spec.forwardPorts) {
            for (const auto& taken : other.forwardPorts) {
                if (port.protocol == taken.protocol && port.hostPort == taken.hostPort) {
                    return &port;
                }
            }
        }
        return nullptr;
    };
    auto check = [&](const std::string& owner, const ContainerSpec& other) {
        if (owner == name) {
            return;
        }
        if (const auto* port = clash(other)) {
            throwInvalid("ForwardPorts: " + port->protocol + " port " + std::to_string(port->hostPort) +
                         " is already forwarded to container '" + owner + "'");
        }
    };
    for (const auto& [owner, container] : containers_) {
        check(owner, container.spec);
    }
    for (const auto& [owner, pending] : creating_) {
        check(owner, pending);
    }
    for (const auto& [owner, pending] : updating_) {
        check(owner, pending);
    }
}

void ContainerManager::create(const Caller& caller, const std::string& name, ContainerSpec spec,
                              Callback<std::string> done) {
    try {
        validateName(name);
        validateSpec(spec, settings_);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    authorize(caller, name, "create",
              [this, caller, name, spec = std::move(spec), done = std::move(done)](const Status& allowed) {
                  if (!allowed.ok()) {
                      done(allowed.error());
                      return;
                  }
                  createAuthorized(caller, name, spec, done);
              });
}

void ContainerManager::createAuthorized(const Caller& caller, const std::string& name, ContainerSpec spec,
                                        const Callback<std::string>& done) {
    // Checked and reserved now, after authorisation, in one turn of the loop:
    // nothing can slip in between, and a caller waiting for polkit holds nothing.
    std::optional<std::pair<std::string, std::string>> allocated;
    try {
        if (containers_.contains(name) || creating_.contains(name) || store_.exists(name)) {
            throw ContainerError(ErrorCode::AlreadyExists, "container '" + name + "' already exists");
        }
        checkPortsFree(name, spec);
        if (spec.privateNetwork && !spec.network.hasAddress() && spec.network.hostBridge.empty()) {
            allocated = addresses_.allocate();
            spec.network.hostAddress = allocated->first;
            spec.network.localAddress = allocated->second;
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    if (!allocated) {
        addresses_.noteUsed(spec);
    }
    auto release = [this, name, spec, allocated] {
        creating_.erase(name);
        if (allocated) {
            addresses_.release(*allocated);
        } else {
            addresses_.forget(spec);
        }
    };
    auto operation = begin(caller, name, "create", [release, done](Status status) {
        if (!status.ok()) {
            release();
            done(status.error());
        }
    });
    if (!operation) {
        return;
    }
    operation->creating = true;
    creating_[name] = spec;

    const auto paths = containerPaths(settings_, name, spec.ephemeral);
    // Undo everything Create may have made; the conf goes last on success,
    // so a crash before it leaves no container behind, only files we own.
    // Create never makes a root: a root left by an earlier container of that
    // name is the owner's data and stays.
    auto undo = [this, name, paths] {
        try {
            store_.removeConf(name);
            store_.removeProfile(paths);
        } catch (const ContainerError& error) {
            logError("cannot clean up after a failed Create of '" + name + "': " + error.what());
        }
    };
    auto commit = [this, operation, name, spec, paths, undo, done]() {
        // The write (with its fsyncs) runs off the loop; the container
        // exists for everyone once it is on disk.
        inBackground(
            name, [store = &store_, name, spec] { store->save(name, spec, EnvFile{}); },
            [this, operation, name, spec, paths, undo, done](Status saved) {
                if (!saved.ok()) {
                    undo();
                    finish(operation, saved);
                    return;
                }
                Container container;
                container.name = name;
                container.spec = spec;
                container.conf = confFromSpec(spec, EnvFile{}, paths.configTextFile);
                creating_.erase(name);
                addresses_.forget(spec);  // publish() notes them again
                publish(std::move(container));
                operation->done = [](const Status&) {};
                finish(operation, ok());
                done(name);
            });
    };
    if (spec.needsBuild()) {
        build(name, spec, [this, operation, commit, undo](Status built) {
            if (!built.ok()) {
                undo();
                finish(operation, built);
                return;
            }
            commit();
        });
        return;
    }
    try {
        store_.linkSystem(paths, locateSystem(settings_, spec.systemPath).onHost);
    } catch (const ContainerError& error) {
        undo();
        finish(operation, error);
        return;
    }
    commit();
}

void ContainerManager::build(const std::string& name, const ContainerSpec& spec, StatusCallback next) {
    // Directories and the module file (fsync'ed) are made off the loop.
    inBackground(
        name,
        [store = &store_, paths = containerPaths(settings_, name, spec.ephemeral), name, spec] {
            std::error_code error;
            for (const auto& directory : {paths.profileDir, paths.gcrootsDir}) {
                fs::create_directories(directory, error);
                if (error) {
                    throw ContainerError(ErrorCode::IOError,
                                         "cannot create '" + directory.string() + "': " + error.message());
                }
            }
            if (!spec.config.empty()) {
                store->saveConfigText(name, spec.config);
            }
        },
        [this, name, spec, next](Status prepared) {
            if (!prepared.ok()) {
                next(withCode(ErrorCode::BuildFailed, prepared.error()));
                return;
            }
            runBuilder(name, spec, next);
        });
}

void ContainerManager::runBuilder(const std::string& name, const ContainerSpec& spec, StatusCallback next) {
    const auto paths = containerPaths(settings_, name, spec.ephemeral);
    ProcessRequest request;
    if (!spec.flake.empty()) {
        // nixos-container: the attribute is nixosConfigurations.NAME unless the URI names one.
        auto hash = spec.flake.find('#');
        auto ref = spec.flake.substr(0, hash);
        auto attribute = hash == std::string::npos ? name : spec.flake.substr(hash + 1);
        request.argv = {(settings_.nixBinDir / "nix").string(),
                        "build",
                        "--profile",
                        paths.systemLink.string(),
                        "--",
                        ref + "#nixosConfigurations.\"" + attribute + "\".config.system.build.toplevel"};
    } else {
        // Module text lives where the conf points at it (written by build()).
        auto moduleFile = spec.config.empty() ? spec.configFile : paths.configTextFile.string();
        request.argv = {(settings_.nixBinDir / "nix-env").string(),
                        "-p",
                        paths.systemLink.string(),
                        "-I",
                        "nixos-config=" + moduleFile,
                        "-f",
                        "<nixpkgs/nixos>",
                        "--set",
                        "-A",
                        "system"};
    }
    if (const char* path = std::getenv("PATH"); path != nullptr) {
        request.environment.push_back(std::string("PATH=") + path);
    }
    auto tail = std::make_shared<OutputTail>();
    const auto builder = request.argv.front();
    seams_.processes.run(
        request,
        [this, name, tail](const std::string& line) {
            tail->add(line);
            observer_.buildOutput(name, line);
        },
        [this, paths, builder, tail, next = std::move(next)](Outcome<ProcessExit> exit) {
            if (!exit.ok()) {
                next(withCode(ErrorCode::BuildFailed, exit.error()));
                return;
            }
            if (!exit.value().success()) {
                next(ContainerError(
                    ErrorCode::BuildFailed,
                    "builder " + builder + " " + describeExit(exit.value()) + ": " + tail->text()));
                return;
            }
            try {
                auto system = locateSystem(settings_, fs::canonical(paths.systemLink).native());
                if (!fs::exists(system.onHost / "init")) {
                    throw ContainerError(ErrorCode::BuildFailed,
                                         "the built system " + system.onHost.string() + " has no init");
                }
            } catch (const fs::filesystem_error& error) {
                next(ContainerError(ErrorCode::BuildFailed, "builder " + builder + " left no system at " +
                                                                paths.systemLink.string() + ": " +
                                                                error.code().message()));
                return;
            } catch (const ContainerError& error) {
                next(withCode(ErrorCode::BuildFailed, error));
                return;
            }
            next(ok());
        });
}

// ---------------------------------------------------------------- verbs

const Container& ContainerManager::target(Verb verb, const std::string& name) const {
    const auto& container = get(name);
    if (verb == Verb::Destroy && container.declarative) {
        throw ContainerError(
            ErrorCode::Declarative,
            "container '" + name + "' is declarative: remove it from the NixOS configuration");
    }
    return container;
}

void ContainerManager::perform(const Caller& caller, Verb verb, const std::string& name,
                               StatusCallback done) {
    try {
        target(verb, name);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    const std::string verbName(toString(verb));
    authorize(caller, name, verbName, [this, caller, verb, name, done](const Status& allowed) {
        if (!allowed.ok()) {
            done(allowed.error());
            return;
        }
        performAuthorized(caller, verb, name, done);
    });
}

void ContainerManager::performAuthorized(const Caller& caller, Verb verb, const std::string& name,
                                         StatusCallback done) {
    const std::string verbName(toString(verb));
    // The world may have changed while polkit thought: check again, then
    // take the container.
    try {
        const auto& container = target(verb, name);
        if (!container.operation.empty()) {
            if ((verb == Verb::Stop || verb == Verb::Terminate) && cancelStart(caller, verb, name, done)) {
                return;
            }
            throw ContainerError(ErrorCode::Busy,
                                 "container '" + name + "' is busy with " + container.operation);
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto operation = begin(caller, name, verbName, std::move(done));
    if (!operation) {
        return;
    }
    auto finishWith = [this, operation](Status status) { finish(operation, std::move(status)); };
    switch (verb) {
        case Verb::Start:
            doStart(operation, finishWith);
            return;
        case Verb::Stop:
            doStop(operation, false, finishWith);
            return;
        case Verb::Terminate:
            doStop(operation, true, finishWith);
            return;
        case Verb::Restart:
            doStop(operation, false, [this, operation, finishWith](Status stopped) {
                if (!stopped.ok()) {
                    finishWith(stopped);
                    return;
                }
                doStart(operation, finishWith);
            });
            return;
        case Verb::Reload:
            doReload(operation, finishWith);
            return;
        case Verb::Destroy:
            doDestroy(operation, finishWith);
            return;
        case Verb::Update:
            break;  // update() has its own entry: it carries a spec
    }
    finishWith(ContainerError(ErrorCode::InvalidArgument, "use Update to change a container"));
}

void ContainerManager::doStart(const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    auto& container = containers_.at(name);
    if (container.state == ContainerState::Running) {
        next(ok());
        return;
    }
    if (!operation->cancelledBy.empty()) {  // a Restart whose stop half was followed by a Stop
        next(cancelledError(operation->verb, name, operation->cancelledBy));
        return;
    }
    // A leader learned before is a stale machine's: the new one comes with
    // MachineNew or the lookup after the job.
    container.leader = 0;
    setState(container, ContainerState::Starting);
    if (container.declarative) {
        operation->unitStarting = container.unit;
        seams_.systemd.startUnit(container.unit, [this, operation, next = std::move(next)](Status started) {
            if (!started.ok() && !operation->cancelledBy.empty()) {
                started = cancelledError(operation->verb, operation->name, operation->cancelledBy);
            }
            refreshFromSystem(operation->name, [this, name = operation->name, started, next] {
                refreshMachine(name, [started, next] { next(started); });
            });
        });
        return;
    }
    container.unit = serviceUnitName(name);

    // Everything nspawn will need, computed and checked before anything runs.
    const auto& spec = container.spec;
    const auto paths = containerPaths(settings_, name, spec.ephemeral);
    std::optional<NetworkPlan> plan;
    TransientUnit unit;
    try {
        fs::path system = spec.systemPath.empty() ? fs::path(paths.systemLink) : fs::path(spec.systemPath);
        // /nix/store/X names STORE_DIR/X; map first, then follow links.
        auto location = locateSystem(settings_, system.native());
        std::error_code error;
        auto resolved = fs::canonical(location.onHost, error);
        if (error) {
            throw ContainerError(ErrorCode::StartFailed,
                                 "the system " + system.string() + " does not exist: " + error.message());
        }
        location = locateSystem(settings_, resolved.native());
        container.systemOnHost = location.onHost;
        plan = planNetwork(name, spec, settings_);
        NspawnInputs inputs;
        inputs.name = name;
        inputs.spec = &spec;
        inputs.paths = paths;
        inputs.systemInContainer = location.inContainer.string();
        inputs.network = plan;
        inputs.personalityX86 = isI686System(location.onHost);
        inputs.bindNixDb = fs::exists(settings_.nixStateDir / "db", error);
        inputs.bindNixDaemonSocket = fs::exists(settings_.nixStateDir / "daemon-socket", error);
        TransientUnitInputs unitInputs;
        unitInputs.name = name;
        unitInputs.spec = &spec;
        unitInputs.root = paths.root.string();
        unitInputs.nspawnArgv = buildNspawnArgv(settings_, inputs);
        unitInputs.environment = nspawnEnvironment_;
        unit = buildTransientUnit(unitInputs);
    } catch (const ContainerError& error) {
        setState(container, ContainerState::Stopped);
        next(error.code() == ErrorCode::InvalidArgument ? withCode(ErrorCode::StartFailed, error) : error);
        return;
    }

    // The module's pre-start: a stale machine registration of that name is
    // terminated (nixpkgs #486775), a failed unit of that name forgotten, and
    // stale links removed; then the network is made, before the init runs.
    // The three pre-start steps are independent: they go out at once, and
    // the network and the unit wait for all of them.
    auto pending = std::make_shared<int>(3);
    auto prepareFailure = std::make_shared<std::optional<ContainerError>>();
    auto afterPreStart = [this, operation, name, plan, unit, next = std::move(next), pending,
                          prepareFailure]() {
        if (--*pending > 0) {
            return;
        }
        auto startUnit = [this, operation, name, unit, next]() {
            if (!operation->cancelledBy.empty()) {
                releaseNetwork(name, containers_.at(name).spec, [this, operation, name, next](const Status&) {
                    setState(containers_.at(name), ContainerState::Stopped);
                    next(cancelledError(operation->verb, operation->name, operation->cancelledBy));
                });
                return;
            }
            operation->unitStarting = unit.name;
            seams_.systemd.startTransientUnit(unit, [this, operation, name, next](Status started) {
                if (!started.ok() && !operation->cancelledBy.empty()) {
                    started = cancelledError(operation->verb, operation->name, operation->cancelledBy);
                }
                if (!started.ok()) {
                    releaseNetwork(name, containers_.at(name).spec,
                                   [this, name, next, started](const Status&) {
                                       refreshFromSystem(name, [next, started] { next(started); });
                                   });
                    return;
                }
                auto& container = containers_.at(name);
                setState(container, ContainerState::Running);
                if (container.leader != 0) {  // learned from MachineNew while starting
                    refreshAddresses(container);
                    next(ok());
                    return;
                }
                refreshMachine(name, [next] { next(ok()); });
            });
        };
        if (*prepareFailure) {
            setState(containers_.at(name), ContainerState::Stopped);
            next(withCode(ErrorCode::StartFailed, **prepareFailure));
            return;
        }
        // The network: stale links of a crashed run go first;
        // prepare() undoes its own partial work.
        if (!plan) {
            startUnit();
            return;
        }
        inBackground(
            name,
            [&network = seams_.network, plan = *plan] {
                network.release(plan);
                network.prepare(plan);
            },
            [this, name, next, startUnit](Status networked) {
                if (!networked.ok()) {
                    setState(containers_.at(name), ContainerState::Stopped);
                    next(withCode(ErrorCode::NetworkSetupFailed, networked.error()));
                    return;
                }
                startUnit();
            });
    };
    seams_.machines.terminateMachine(name, [name, afterPreStart](Status terminated) {
        if (!terminated.ok()) {
            logWarning("cannot terminate a stale machine '" + name + "': " + terminated.error().what());
        }
        afterPreStart();
    });
    seams_.systemd.resetFailedUnit(unit.name, [afterPreStart](const Status&) { afterPreStart(); });
    // The module's skeleton, off the loop.
    inBackground(
        name,
        [store = &store_, paths = containerPaths(settings_, name, spec.ephemeral)] {
            store->prepareRoot(paths);
        },
        [afterPreStart, prepareFailure](Status prepared) {
            if (!prepared.ok()) {
                *prepareFailure = prepared.error();
            }
            afterPreStart();
        });
}

void ContainerManager::doStop(const OperationPtr& operation, bool terminate, StatusCallback next) {
    const auto name = operation->name;
    auto& container = containers_.at(name);
    const auto unit = container.unit;
    if (container.state == ContainerState::Failed) {
        // Stopping a failed container forgets the failure, as systemctl reset-failed.
        seams_.systemd.resetFailedUnit(
            unit, [this, name, next = std::move(next)](Status) { afterStopped(name, next); });
        return;
    }
    // Even a container we believe stopped gets a StopUnit (a no-op for a
    // unit that is not loaded): Destroy must never act on a stale belief.
    if (container.state != ContainerState::Stopped) {
        setState(container, ContainerState::Stopping);
    }
    auto stopUnit = [this, name, unit, next = std::move(next)]() {
        seams_.systemd.stopUnit(unit, [this, name, next](Status stopped) {
            if (!stopped.ok()) {
                refreshFromSystem(
                    name, [next, stopped] { next(withCode(ErrorCode::StopFailed, stopped.error())); });
                return;
            }
            afterStopped(name, next);
        });
    };
    if (!terminate) {
        stopUnit();
        return;
    }
    seams_.machines.terminateMachine(name, [name, stopUnit](Status terminated) {
        // While the start job is pending machined answers EDEADLK; stopping
        // the unit cancels that job and ends the container just the same.
        if (!terminated.ok()) {
            logInfo("terminate '" + name + "' through machined: " + terminated.error().what() +
                    "; stopping its unit instead");
        }
        stopUnit();
    });
}

void ContainerManager::afterStopped(const std::string& name, StatusCallback next) {
    auto& container = containers_.at(name);
    container.leader = 0;
    container.addresses = plannedContainerAddresses(container.spec);
    auto refresh = [this, name, next = std::move(next)](const Status&) {
        refreshFromSystem(name, [next] { next(ok()); });
    };
    if (!container.spec.ephemeral) {
        releaseNetwork(name, container.spec, refresh);
        return;
    }
    releaseNetwork(name, container.spec, [this, name, refresh](const Status&) {
        inBackground(
            name,
            [root = containerPaths(settings_, name, true).root] {
                std::error_code error;
                fs::remove_all(root, error);
            },
            refresh);
    });
}

void ContainerManager::doReload(const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    refreshMachine(name, [this, name, next = std::move(next)]() {
        auto& container = containers_.at(name);
        if (container.state != ContainerState::Running || container.leader == 0) {
            next(ContainerError(ErrorCode::NotRunning, "container '" + name + "' is not running"));
            return;
        }
        ProcessRequest request;
        try {
            auto system = locateSystem(settings_, container.systemOnHost.native());
            request.argv = {(system.inContainer / "bin/switch-to-configuration").string(), "test"};
        } catch (const ContainerError& error) {
            next(withCode(ErrorCode::ReloadFailed, error));
            return;
        }
        request.environment = {"PATH=/run/current-system/sw/bin:/run/current-system/sw/sbin",
                               "container=nspawn"};
        request.namespacesOf = static_cast<pid_t>(container.leader);
        auto tail = std::make_shared<OutputTail>();
        seams_.processes.run(
            request, [tail](const std::string& line) { tail->add(line); },
            [name, tail, next](Outcome<ProcessExit> exit) {
                if (!exit.ok()) {
                    next(withCode(ErrorCode::ReloadFailed, exit.error()));
                } else if (!exit.value().success()) {
                    next(ContainerError(ErrorCode::ReloadFailed, "switch-to-configuration test in '" + name +
                                                                     "' " + describeExit(exit.value()) +
                                                                     ": " + tail->text()));
                } else {
                    next(ok());
                }
            });
    });
}

void ContainerManager::doDestroy(const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    doStop(operation, false, [this, name, next = std::move(next)](Status stopped) {
        if (!stopped.ok()) {
            next(stopped);
            return;
        }
        try {
            // The conf goes first: from here on the container is gone, even
            // if the service dies while its data is being removed.
            store_.removeConf(name);
        } catch (const ContainerError& error) {
            next(error);
            return;
        }
        auto& container = containers_.at(name);
        addresses_.forget(container.spec);
        container.state = ContainerState::Stopped;
        // A root tree can be large: removed off the loop.
        inBackground(
            name,
            [store = &store_, stateful = containerPaths(settings_, name, false),
             ephemeral = containerPaths(settings_, name, true)] {
                store->removeData(stateful);
                store->removeData(ephemeral);
            },
            [this, name, next](Status removed) {
                containers_.erase(name);
                unitToContainer_.erase(serviceUnitName(name));
                unitToContainer_.erase(declarativeUnitName(name));
                observer_.containerRemoved(name);
                next(removed);
            });
    });
}

// ---------------------------------------------------------------- update

void ContainerManager::update(const Caller& caller, const std::string& name, SpecPatch patch,
                              StatusCallback done) {
    try {
        // Checked now against the spec as it is, and again when it is applied.
        checkUpdate(name, patch);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    authorize(caller, name, "update",
              [this, caller, name, patch = std::move(patch), done = std::move(done)](const Status& allowed) {
                  if (!allowed.ok()) {
                      done(allowed.error());
                      return;
                  }
                  updateAuthorized(caller, name, patch, done);
              });
}

ContainerSpec ContainerManager::checkUpdate(const std::string& name, const SpecPatch& patch) const {
    const auto& container = get(name);
    if (container.declarative) {
        throw ContainerError(ErrorCode::Declarative,
                             "container '" + name + "' is declarative: change it in the NixOS configuration");
    }
    auto spec = patch.appliedTo(container.spec);
    auto checked = spec;
    if (!checked.needsBuild() && checked.systemPath.empty()) {
        // An imperative container of nixos-container runs what its profile
        // points at; the conf names no system.
        checked.systemPath = container.systemOnHost.string();
    }
    validateSpec(checked, settings_);
    return spec;
}

void ContainerManager::updateAuthorized(const Caller& caller, const std::string& name, const SpecPatch& patch,
                                        const StatusCallback& done) {
    ContainerSpec before;
    ContainerSpec spec;
    try {
        // Merged into the spec as it is now: another Update that ran while
        // polkit thought keeps its changes.
        spec = checkUpdate(name, patch);
        const auto& container = get(name);
        if (!container.operation.empty()) {
            throw ContainerError(ErrorCode::Busy,
                                 "container '" + name + "' is busy with " + container.operation);
        }
        before = container.spec;
        checkPortsFree(name, spec);
        if (spec.privateNetwork && !spec.network.hasAddress() && spec.network.hostBridge.empty()) {
            if (before.privateNetwork && !before.network.hostAddress.empty() &&
                before.network.hostBridge.empty()) {
                spec.network = before.network;  // keep the pair it already has
            } else {
                auto pair = addresses_.allocate();
                addresses_.release(pair);
                spec.network.hostAddress = pair.first;
                spec.network.localAddress = pair.second;
            }
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    // What the new spec uses is held from now until the update is applied
    // (or fails), so no concurrent Create or Update can take it.
    addresses_.noteUsed(spec);
    updating_[name] = spec;
    auto committed = std::make_shared<bool>(false);
    auto operation = begin(caller, name, "update", [this, name, spec, committed, done](Status status) {
        updating_.erase(name);
        if (!*committed) {
            addresses_.forget(spec);
        }
        done(std::move(status));
    });
    if (!operation) {
        return;
    }
    auto apply = [this, operation, name, before, spec, committed]() {
        try {
            if (!spec.needsBuild() && sourceChanged(before, spec)) {
                store_.linkSystem(containerPaths(settings_, name, spec.ephemeral),
                                  locateSystem(settings_, spec.systemPath).onHost);
            }
        } catch (const ContainerError& error) {
            finish(operation, error);
            return;
        }
        auto conf = containers_.at(name).conf;
        inBackground(
            name, [store = &store_, name, spec, conf] { store->save(name, spec, conf); },
            [this, operation, name, before, spec, conf, committed](Status saved) {
                if (!saved.ok()) {
                    finish(operation, saved);
                    return;
                }
                containers_.at(name).conf =
                    confFromSpec(spec, conf, containerPaths(settings_, name, false).configTextFile);
                *committed = true;
                applyUpdate(operation, before, spec);
            });
    };
    if (spec.needsBuild()) {
        build(name, spec, [this, operation, apply](Status built) {
            if (!built.ok()) {
                finish(operation, built);
                return;
            }
            apply();
        });
        return;
    }
    apply();
}

void ContainerManager::applyUpdate(const OperationPtr& operation, const ContainerSpec& before,
                                   const ContainerSpec& spec) {
    const auto name = operation->name;
    auto& container = containers_.at(name);
    addresses_.forget(before);  // the new ones were noted when the update began
    container.spec = spec;
    std::error_code error;
    if (spec.systemPath.empty()) {
        container.systemOnHost =
            fs::canonical(containerPaths(settings_, name, spec.ephemeral).systemLink, error);
    } else {
        try {
            container.systemOnHost = locateSystem(settings_, spec.systemPath).onHost;
        } catch (const ContainerError&) {
            // Checked before the update; gone since. Start reports it if it stays so.
            container.systemOnHost = spec.systemPath;
        }
    }
    auto plan = planNetwork(name, spec, settings_);
    container.hostInterface = plan && plan->mainVeth ? plan->mainVeth->hostName : "";
    container.root = containerPaths(settings_, name, spec.ephemeral).root;
    if (container.state != ContainerState::Running) {
        container.addresses = plannedContainerAddresses(spec);
    }
    setFields(container, kUpdatedFields);

    auto effect =
        container.state == ContainerState::Running ? classifyUpdate(before, spec) : UpdateEffect::None;
    if (spec.needsBuild() && container.state == ContainerState::Running && effect == UpdateEffect::None) {
        effect = UpdateEffect::Reload;  // a rebuild may have changed the system
    }
    auto finishWith = [this, operation](Status status) { finish(operation, std::move(status)); };
    switch (effect) {
        case UpdateEffect::None:
            finishWith(ok());
            return;
        case UpdateEffect::Reload:
            doReload(operation, finishWith);
            return;
        case UpdateEffect::Restart:
            // The old network plan must go with the old container.
            containers_.at(name).spec = before;
            doStop(operation, false, [this, operation, name, spec, finishWith](Status stopped) {
                containers_.at(name).spec = spec;
                if (!stopped.ok()) {
                    finishWith(stopped);
                    return;
                }
                doStart(operation, finishWith);
            });
            return;
    }
}

}  // namespace nixos_containers
