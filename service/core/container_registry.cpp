#include "container_registry.h"

#include "container_paths.h"
#include "log.h"
#include "network_plan.h"
#include "transient_unit.h"
#include "validation.h"

#include <algorithm>
#include <system_error>
#include <utility>

namespace nixos_containers {

namespace fs = std::filesystem;

ContainerRegistry::ContainerRegistry(const Settings& settings, ContainerStore& store, SystemdManager& systemd,
                                     MachineRegistry& machines, HostNetwork& network,
                                     ContainerObserver& observer)
    : settings_(settings),
      store_(store),
      systemd_(systemd),
      machines_(machines),
      network_(network),
      observer_(observer),
      addresses_(settings.ipv4Pool, settings.ipv6Pool) {}

const Container* ContainerRegistry::find(const std::string& name) const {
    auto found = containers_.find(name);
    return found == containers_.end() ? nullptr : &found->second;
}

const Container& ContainerRegistry::get(const std::string& name) const {
    validateExistingName(name);
    const auto* container = find(name);
    if (container == nullptr) {
        throw ContainerError(ErrorCode::NoSuchContainer, "no container named '" + name + "'");
    }
    return *container;
}

std::string brokenConfError(const Container& container) {
    return "container '" + container.name + "' has a broken conf: " + container.broken +
           "; fix it and restart nixos-containers.service, or Destroy the container";
}

// ---------------------------------------------------------------- discovery

void ContainerRegistry::recover(StatusCallback done) {
    try {
        for (const auto& tree : store_.secureTrees()) {
            logWarning(tree + " was open to other users: now 0700");
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    std::vector<std::string> problems;
    auto entries = store_.loadAll(problems);
    for (const auto& problem : problems) {
        logWarning("broken container conf: " + problem);
    }
    for (auto& entry : entries) {
        Container container;
        container.name = std::move(entry.name);
        container.spec = std::move(entry.spec);
        container.conf = std::move(entry.conf);
        container.declarative = entry.declarative;
        container.templateUnit = entry.templateUnit;
        container.broken = std::move(entry.broken);
        publish(std::move(container));
    }
    systemd_.watchUnits(
        {kServiceUnitPrefix, kDeclarativeUnitPrefix},
        [this](const std::string& unit, const UnitState& state) { onUnitChanged(unit, state); });
    machines_.watchMachines(
        [this](const std::string& name, bool present) { onMachineChanged(name, present); });

    systemd_.listUnits(
        {"nixos-container@*.service", "container@*.service"},
        [this, done = std::move(done)](Outcome<std::map<std::string, UnitState>> units) mutable {
            // Without the world's answer every container would look stopped, and
            // AutoStart would start again what runs: fail, and let systemd retry.
            if (!units.ok()) {
                done(ContainerError(ErrorCode::Failed,
                                    std::string("cannot list units: ") + units.error().what()));
                return;
            }
            // systemd sends its signals and this answer in order: a unit
            // signal that comes from here on is newer than the listing, and
            // the listing must not undo it when machined has answered too.
            std::map<std::string, std::uint64_t> eventsAtListing;
            for (const auto& [name, container] : containers_) {
                eventsAtListing[name] = container.unitEvents;
            }
            machines_.listMachines([this, units = std::move(units.value()),
                                    eventsAtListing = std::move(eventsAtListing),
                                    done = std::move(done)](Outcome<std::vector<MachineInfo>> machines) {
                if (!machines.ok()) {
                    done(ContainerError(ErrorCode::Failed,
                                        std::string("cannot list machines: ") + machines.error().what()));
                    return;
                }
                learnWorld(units, eventsAtListing, machines.value());
                done(Done{});
            });
        });
}

void ContainerRegistry::learnWorld(const std::map<std::string, UnitState>& units,
                                   const std::map<std::string, std::uint64_t>& eventsAtListing,
                                   const std::vector<MachineInfo>& machines) {
    std::map<std::string, const MachineInfo*> machineByName;
    for (const auto& machine : machines) {
        machineByName[machine.name] = &machine;
    }
    for (auto& [name, container] : containers_) {
        if (auto seen = eventsAtListing.find(name);
            seen != eventsAtListing.end() && seen->second != container.unitEvents) {
            // A signal newer than the listing set its state (and asked
            // machined for its leader when it runs): that stands.
            continue;
        }
        if (auto machine = machineByName.find(name);
            machine != machineByName.end() && isContainerUnit(name, machine->second->unit)) {
            // Whoever started it (us, the NixOS template), its unit is the truth.
            {
                container.unit = machine->second->unit;
                unitToContainer_[container.unit] = name;
            }
            container.leader = machine->second->leader;
            container.machinePath = machine->second->path;
            container.timestamp = machine->second->timestamp;
            if (container.leader != 0) {
                refreshOSRelease(container);
            }
        }
        UnitState unitState;
        if (auto found = units.find(container.unit); found != units.end()) {
            unitState = found->second;
        }
        container.state = stateFromUnit(unitState);
        if (container.state != ContainerState::Running) {
            container.leader = 0;
            container.machinePath.clear();
            container.timestamp = 0;
            container.osRelease.clear();
        }
        observer_.containerChanged(container,
                                   {ContainerField::State, ContainerField::Leader, ContainerField::Unit});
        if (container.state == ContainerState::Failed) {
            learnUnitResult(container);
        }
    }
    // A container that stopped while the service was down left its network
    // behind (no one was there to release it): release it now. Queued per
    // container, so an AutoStart after recovery runs after it.
    for (const auto& [name, container] : containers_) {
        if (container.state == ContainerState::Stopped || container.state == ContainerState::Failed) {
            network_.release(name, container.spec, [](const Status&) {});
        }
    }
    // A pin with no container is a Destroy the service did not finish: its
    // spec is gone, but deleting what lives in the namespace takes every
    // host end with it (veths, extra veths, their routes and bridge ports).
    ContainerSpec unknown;
    unknown.privateNetwork = true;
    for (const auto& name : store_.pinnedNetworks()) {
        if (!containers_.contains(name)) {
            logWarning("releasing the network of '" + name + "', which has no conf");
            network_.release(name, unknown, [](const Status&) {});
        }
    }
}

void ContainerRegistry::derive(Container& container) const {
    const auto& name = container.name;
    container.root = rootPath(settings_, name, container.spec.ephemeral);
    if (!container.spec.systemPath.empty()) {
        try {
            container.systemOnHost = systemOnHost(settings_, container.spec.systemPath);
        } catch (const ContainerError&) {
            // Checked when it was set; gone since. Start reports it if it stays so.
            container.systemOnHost = container.spec.systemPath;
        }
    } else {
        std::error_code error;
        container.systemOnHost = fs::canonical(systemLinkPath(settings_, name), error);
    }
    container.generations = store_.generations(containerPaths(settings_, name, container.spec.ephemeral));
    // planNetwork's main veth, without planning the rest.
    container.hostInterface = hasMainVeth(container.spec) ? hostInterfaceName(name) : "";
}

std::size_t ContainerRegistry::ownedBy(std::uint32_t uid) const {
    auto owned = static_cast<std::size_t>(
        std::count_if(containers_.begin(), containers_.end(),
                      [uid](const auto& entry) { return entry.second.owner == uid; }));
    for (const auto& [name, creator] : creators_) {
        if (creator == uid && !containers_.contains(name)) {
            ++owned;
        }
    }
    return owned;
}

void ContainerRegistry::publish(Container container) {
    const auto& name = container.name;
    container.owner = ownerFromConf(container.conf);
    auto serviceUnit = serviceUnitName(name);
    auto declarativeUnit = declarativeUnitName(name);
    container.unit = container.templateUnit ? declarativeUnit : serviceUnit;
    derive(container);
    container.addresses = plannedContainerAddresses(container.spec);
    addresses_.noteUsed(container.spec);
    unitToContainer_.insert_or_assign(std::move(serviceUnit), name);
    unitToContainer_.insert_or_assign(std::move(declarativeUnit), name);
    auto [where, inserted] = containers_.insert_or_assign(name, std::move(container));
    if (inserted) {
        observer_.containerAdded(where->second);
    }
}

void ContainerRegistry::remove(const std::string& name) {
    if (auto found = containers_.find(name); found != containers_.end()) {
        addresses_.forget(found->second.spec);
        containers_.erase(found);
    }
    unitToContainer_.erase(serviceUnitName(name));
    unitToContainer_.erase(declarativeUnitName(name));
    observer_.containerRemoved(name);
}

// ---------------------------------------------------------------- state

void ContainerRegistry::setState(Container& container, ContainerState state) {
    if (container.state == state) {
        return;
    }
    container.state = state;
    container.unitResult.clear();
    if (state != ContainerState::Running && state != ContainerState::Starting) {
        container.leader = 0;
        container.machinePath.clear();
        container.timestamp = 0;
        container.osRelease.clear();
    }
    observer_.containerChanged(container, {ContainerField::State, ContainerField::Leader});
    if (state == ContainerState::Failed) {
        learnUnitResult(container);
    }
}

void ContainerRegistry::learnUnitResult(const Container& container) {
    // Unit signals carry ActiveState, not Result: ask. Nobody waits,
    // PropertiesChanged follows.
    // The unit's later signals while it stays failed do not make the answer
    // stale: its Result changes only with a new start, which leaves failed.
    systemd_.unitState(container.unit, [this, name = container.name,
                                        unit = container.unit](Outcome<UnitState> state) {
        auto found = containers_.find(name);
        if (found == containers_.end() || found->second.state != ContainerState::Failed ||
            found->second.unit != unit || !state.ok() || found->second.unitResult == state.value().result) {
            return;
        }
        found->second.unitResult = state.value().result;
        observer_.containerChanged(found->second, {ContainerField::State});
    });
}

void ContainerRegistry::operationBegan(const std::string& name, const std::string& verb) {
    if (auto found = containers_.find(name); found != containers_.end()) {
        found->second.operation = verb;
        observer_.containerChanged(found->second, {});
    }
}

void ContainerRegistry::operationEnded(const std::string& name, const Status& status) {
    if (auto found = containers_.find(name); found != containers_.end()) {
        auto& container = found->second;
        container.operation.clear();
        container.lastError = status.ok() ? "" : status.error().what();
        observer_.containerChanged(container, {});
    }
}

void ContainerRegistry::reconcile(const std::string& name) {
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
            network_.release(name, found->second.spec, [](const Status&) {});
        }
    });
}

void ContainerRegistry::refreshFromSystem(const std::string& name, std::function<void()> next) {
    const auto* container = find(name);
    if (container == nullptr) {
        next();
        return;
    }
    systemd_.unitState(container->unit, [this, name, asked = container->unitEvents,
                                         next = std::move(next)](Outcome<UnitState> state) {
        auto found = containers_.find(name);
        if (found != containers_.end() && state.ok() && found->second.unitEvents == asked) {
            setState(found->second, stateFromUnit(state.value()));
        }
        next();
    });
}

void ContainerRegistry::refreshMachine(const std::string& name, std::function<void()> next) {
    machines_.getMachine(name, [this, name,
                                next = std::move(next)](Outcome<std::optional<MachineInfo>> machine) mutable {
        auto found = containers_.find(name);
        if (found != containers_.end()) {
            auto& container = found->second;
            // A machine of that name while the container is not running
            // is somebody else's (or a stale one): not its leader.
            const bool running =
                container.state == ContainerState::Running || container.state == ContainerState::Starting;
            const bool ours = machine.ok() && machine.value() && isContainerUnit(name, machine.value()->unit);
            container.leader = running && ours ? machine.value()->leader : 0;
            const bool known = container.leader != 0;
            container.machinePath = known ? machine.value()->path : std::string();
            container.timestamp = known ? machine.value()->timestamp : 0;
            if (!known) {
                container.osRelease.clear();
            } else {
                refreshOSRelease(container);
            }
            refreshAddresses(container);
        }
        next();
    });
}

void ContainerRegistry::refreshOSRelease(Container& container) {
    // machined reads it inside the container: nobody waits, PropertiesChanged follows.
    machines_.machineOSRelease(container.name, [this, name = container.name, leader = container.leader](
                                                   Outcome<std::map<std::string, std::string>> release) {
        auto found = containers_.find(name);
        // Stopped or started again meanwhile: not its os-release.
        if (found == containers_.end() || found->second.leader != leader || !release.ok()) {
            return;
        }
        found->second.osRelease = release.value();
        observer_.containerChanged(found->second, {ContainerField::Leader});
    });
}

void ContainerRegistry::refreshAddresses(Container& container) {
    // Until machined says otherwise (and always without a private network,
    // where machined would report the host's addresses).
    container.addresses = plannedContainerAddresses(container.spec);
    observer_.containerChanged(container, {ContainerField::Leader, ContainerField::Addresses});
    if (container.leader == 0 || !container.spec.privateNetwork) {
        return;
    }
    // machined reads them inside the container, which takes milliseconds:
    // nobody waits, PropertiesChanged follows.
    machines_.machineAddresses(container.name, [this, name = container.name, leader = container.leader](
                                                   Outcome<std::vector<std::string>> addresses) {
        auto found = containers_.find(name);
        // Stopped or started again meanwhile: not its addresses.
        if (found == containers_.end() || found->second.leader != leader || !addresses.ok() ||
            addresses.value().empty()) {
            return;
        }
        found->second.addresses = addresses.value();
        observer_.containerChanged(found->second, {ContainerField::Addresses});
    });
}

void ContainerRegistry::onUnitChanged(const std::string& unit, const UnitState& state) {
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
        network_.release(name, container.spec, [](const Status&) {});
    }
}

void ContainerRegistry::onMachineChanged(const std::string& name, bool present) {
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
        ++found->second.machineLookupsInFlight;
        machines_.getMachine(name, [this, name](Outcome<std::optional<MachineInfo>> machine) {
            auto found = containers_.find(name);
            if (found != containers_.end() && found->second.machineLookupsInFlight > 0) {
                --found->second.machineLookupsInFlight;
            }
            if (found != containers_.end() && found->second.state == ContainerState::Starting &&
                machine.ok() && machine.value() && isContainerUnit(name, machine.value()->unit)) {
                found->second.leader = machine.value()->leader;
                found->second.machinePath = machine.value()->path;
                found->second.timestamp = machine.value()->timestamp;
                refreshOSRelease(found->second);
                observer_.containerChanged(found->second, {ContainerField::Leader});
            }
        });
    }
}

// ---------------------------------------------------------------- reservations

void ContainerRegistry::checkPortsFree(const std::string& name, const ContainerSpec& spec) const {
    auto check = [&](const std::string& owner, const ContainerSpec& other) {
        if (owner == name) {
            return;
        }
        for (const auto& port : spec.forwardPorts) {
            for (const auto& taken : other.forwardPorts) {
                if (port.protocol == taken.protocol && port.hostPort == taken.hostPort) {
                    throwInvalid("ForwardPorts: " + port.protocol + " port " + std::to_string(port.hostPort) +
                                 " is already forwarded to container '" + owner + "'");
                }
            }
        }
    };
    for (const auto& [owner, container] : containers_) {
        check(owner, container.spec);
    }
    for (const auto& [owner, pending] : pending_) {
        check(owner, pending);
    }
}

void ContainerRegistry::checkAddressesFree(const std::string& name, const ContainerSpec& spec) const {
    const std::pair<const char*, std::string NetworkOptions::*> fields[] = {
        {"HostAddress", &NetworkOptions::hostAddress},
        {"LocalAddress", &NetworkOptions::localAddress},
        {"HostAddress6", &NetworkOptions::hostAddress6},
        {"LocalAddress6", &NetworkOptions::localAddress6},
    };
    auto check = [&](const std::string& owner, const ContainerSpec& other) {
        if (owner == name) {
            return;
        }
        for (const auto& [key, field] : fields) {
            const auto wanted = stripPrefix(spec.network.*field);
            if (wanted.empty()) {
                continue;
            }
            for (const auto& [otherKey, otherField] : fields) {
                if (stripPrefix(other.network.*otherField) == wanted) {
                    throwInvalid(std::string(key) + " " + wanted + " is already the " + otherKey +
                                 " of container '" + owner + "'");
                }
            }
        }
    };
    for (const auto& [owner, container] : containers_) {
        check(owner, container.spec);
    }
    for (const auto& [owner, pending] : pending_) {
        check(owner, pending);
    }
}

}  // namespace nixos_containers
