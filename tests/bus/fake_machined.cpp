// The fake org.freedesktop.machine1: the machines nspawn registers.
#include "fake_peers.h"

namespace bus_tests {

namespace {
constexpr const char* kMachinedManager = "org.freedesktop.machine1.Manager";
constexpr const char* kMachine = "org.freedesktop.machine1.Machine";

std::string machinePath(const std::string& machine) {
    return pathEncode("/org/freedesktop/machine1/machine", machine);
}
}  // namespace

bool FakePeers::hasMachine(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return machines_.contains(name);
}

std::uint32_t FakePeers::machineLeader(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto found = machines_.find(name);
    return found == machines_.end() ? 0 : found->second.leader;
}

void FakePeers::addMachine(const std::string& name, const std::string& unit, std::uint32_t leader) {
    if (!options_.machined) {
        return;
    }
    const auto path = sdbus::ObjectPath(machinePath(name));
    auto object = sdbus::createObject(loop_.connection(), path);
    object->registerProperty("Name").onInterface(kMachine).withGetter([name] { return name; });
    object->registerProperty("Class").onInterface(kMachine).withGetter(
        [] { return std::string("container"); });
    object->registerProperty("Unit").onInterface(kMachine).withGetter([unit] { return unit; });
    object->registerProperty("Leader").onInterface(kMachine).withGetter([leader] { return leader; });
    object->finishRegistration();
    {
        std::lock_guard lock(mutex_);
        machines_[name] = Machine{unit, leader, std::move(object)};
    }
    machinedManager_->emitSignal("MachineNew").onInterface(kMachinedManager).withArguments(name, path);
}

void FakePeers::removeMachine(const std::string& name) {
    {
        std::lock_guard lock(mutex_);
        if (machines_.erase(name) == 0) {
            return;
        }
    }
    machinedManager_->emitSignal("MachineRemoved")
        .onInterface(kMachinedManager)
        .withArguments(name, sdbus::ObjectPath(machinePath(name)));
}

void FakePeers::registerMachined() {
    machinedManager_ = sdbus::createObject(loop_.connection(), "/org/freedesktop/machine1");
    auto& manager = *machinedManager_;
    auto requireMachine = [this](const std::string& name) {
        std::lock_guard lock(mutex_);
        if (!machines_.contains(name)) {
            throw sdbus::Error("org.freedesktop.machine1.NoSuchMachine", "No machine '" + name + "' known");
        }
    };
    manager.registerMethod("GetMachine")
        .onInterface(kMachinedManager)
        .implementedAs([requireMachine](const std::string& name) {
            requireMachine(name);
            return sdbus::ObjectPath(machinePath(name));
        });
    manager.registerMethod("ListMachines").onInterface(kMachinedManager).implementedAs([this] {
        std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> rows;
        std::lock_guard lock(mutex_);
        for (const auto& [name, machine] : machines_) {
            rows.emplace_back(name, "container", "systemd-nspawn", sdbus::ObjectPath(machinePath(name)));
        }
        return rows;
    });
    manager.registerMethod("TerminateMachine")
        .onInterface(kMachinedManager)
        .implementedAs([this, requireMachine](const std::string& name) {
            note("TerminateMachine " + name);
            requireMachine(name);
            // Killing the leader ends the container and so its unit.
            loop_.post([this, name] {
                std::string unit;
                {
                    std::lock_guard lock(mutex_);
                    if (auto found = machines_.find(name); found != machines_.end()) {
                        unit = found->second.unit;
                    }
                }
                removeMachine(name);
                if (!unit.empty()) {
                    setUnitState(unit, "inactive", "dead");
                }
            });
        });
    manager.registerMethod("GetMachineAddresses")
        .onInterface(kMachinedManager)
        .implementedAs([requireMachine](const std::string& name) {
            requireMachine(name);
            return std::vector<sdbus::Struct<std::int32_t, std::vector<std::uint8_t>>>{};
        });
    manager.registerSignal("MachineNew")
        .onInterface(kMachinedManager)
        .withParameters<std::string, sdbus::ObjectPath>();
    manager.registerSignal("MachineRemoved")
        .onInterface(kMachinedManager)
        .withParameters<std::string, sdbus::ObjectPath>();
    manager.finishRegistration();
}

}  // namespace bus_tests
