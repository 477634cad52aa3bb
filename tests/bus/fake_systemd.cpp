// The fake org.freedesktop.systemd1: transient units, their jobs and states.
#include "fake_peers.h"

#include <fnmatch.h>

#include <algorithm>
#include <iterator>

namespace bus_tests {

namespace {
constexpr const char* kSystemdManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kSystemdUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kSystemdService = "org.freedesktop.systemd1.Service";

TransientUnitRequest decode(const std::string& unit, const std::string& mode,
                            const std::vector<sdbus::Struct<std::string, sdbus::Variant>>& properties) {
    using ExitStatus = sdbus::Struct<std::vector<std::int32_t>, std::vector<std::int32_t>>;
    using ExecCommand = sdbus::Struct<std::string, std::vector<std::string>, bool>;
    using Strings = std::vector<std::string>;
    TransientUnitRequest request;
    request.unit = unit;
    request.mode = mode;
    for (const auto& property : properties) {
        const auto& name = property.get<0>();
        const auto& value = property.get<1>();
        request.propertyNames.insert(name);
        if (name == "Type")
            request.type = variantOr<std::string>(value, "?");
        else if (name == "Slice")
            request.slice = variantOr<std::string>(value, "?");
        else if (name == "KillMode")
            request.killMode = variantOr<std::string>(value, "?");
        else if (name == "NotifyAccess")
            request.notifyAccess = variantOr<std::string>(value, "?");
        else if (name == "DevicePolicy")
            request.devicePolicy = variantOr<std::string>(value, "?");
        else if (name == "Description")
            request.description = variantOr<std::string>(value, "?");
        else if (name == "Restart")
            request.restart = variantOr<std::string>(value, "?");
        else if (name == "Delegate")
            request.delegate = variantOr<bool>(value, false);
        else if (name == "KillSignal")
            request.killSignal = variantOr<std::int32_t>(value, -1);
        else if (name == "TimeoutStartUSec")
            request.timeoutStartUSec = variantOr<std::uint64_t>(value, 1);
        else if (name == "SuccessExitStatus")
            request.successExitStatus = variantOr<ExitStatus>(value, {}).get<0>();
        else if (name == "RestartForceExitStatus")
            request.restartForceExitStatus = variantOr<ExitStatus>(value, {}).get<0>();
        else if (name == "RuntimeDirectory")
            request.runtimeDirectory = variantOr<Strings>(value, {});
        else if (name == "RequiresMountsFor")
            request.requiresMountsFor = variantOr<Strings>(value, {});
        else if (name == "Environment")
            request.environment = variantOr<Strings>(value, {});
        else if (name == "DeviceAllow") {
            for (const auto& row :
                 variantOr<std::vector<sdbus::Struct<std::string, std::string>>>(value, {})) {
                request.deviceAllow.emplace_back(row.get<0>(), row.get<1>());
            }
        } else if (name == "ExecStart") {
            auto commands = variantOr<std::vector<ExecCommand>>(value, {});
            if (commands.size() == 1) {
                request.execPath = commands.front().get<0>();
                request.execStart = commands.front().get<1>();
            }
        }
    }
    return request;
}

// "-M NAME" in the nspawn argv, as nspawn registers the machine under it.
std::string machineNameOf(const TransientUnitRequest& request) {
    const auto& argv = request.execStart;
    auto flag = std::find(argv.begin(), argv.end(), "-M");
    return flag != argv.end() && flag + 1 != argv.end() ? *(flag + 1) : std::string();
}

std::string unitPath(const std::string& unit) {
    return pathEncode("/org/freedesktop/systemd1/unit", unit);
}

// container@NAME.service / nixos-container@NAME.service -> NAME
std::string machineNameOfUnit(const std::string& unit) {
    auto at = unit.find('@');
    auto dot = unit.rfind(".service");
    return at == std::string::npos || dot == std::string::npos ? unit : unit.substr(at + 1, dot - at - 1);
}
}  // namespace

void FakePeers::setJobDelay(std::chrono::milliseconds delay) {
    std::lock_guard lock(mutex_);
    jobDelay_ = delay;
}

void FakePeers::setStartResult(const std::string& result) {
    std::lock_guard lock(mutex_);
    startResult_ = result;
}

void FakePeers::holdStartJobs() {
    std::lock_guard lock(mutex_);
    holdStarts_ = true;
}

void FakePeers::releaseStartJobs() {
    std::vector<HeldStart> held;
    {
        std::lock_guard lock(mutex_);
        holdStarts_ = false;
        held.swap(heldStarts_);
    }
    for (auto& job : held) {
        loop_.post(std::move(job.complete));
    }
}

std::vector<TransientUnitRequest> FakePeers::transientUnits() const {
    std::lock_guard lock(mutex_);
    return transientUnits_;
}

std::optional<std::string> FakePeers::unitActiveState(const std::string& unit) const {
    std::lock_guard lock(mutex_);
    auto found = units_.find(unit);
    return found == units_.end() ? std::nullopt : std::optional<std::string>(found->second.activeState);
}

std::size_t FakePeers::heldStartJobs() const {
    std::lock_guard lock(mutex_);
    return heldStarts_.size();
}

sdbus::ObjectPath FakePeers::newJob() {
    std::lock_guard lock(mutex_);
    return sdbus::ObjectPath("/org/freedesktop/systemd1/job/" + std::to_string(nextJob_++));
}

void FakePeers::ensureUnit(const std::string& unit) {
    {
        std::lock_guard lock(mutex_);
        if (units_.contains(unit)) {
            return;
        }
    }
    auto object = sdbus::createObject(loop_.connection(), unitPath(unit));
    auto field = [this, unit](std::string Unit::*member) {
        return [this, unit, member]() {
            std::lock_guard lock(mutex_);
            return units_.at(unit).*member;
        };
    };
    object->registerProperty("Id").onInterface(kSystemdUnit).withGetter([unit] { return unit; });
    object->registerProperty("ActiveState").onInterface(kSystemdUnit).withGetter(field(&Unit::activeState));
    object->registerProperty("SubState").onInterface(kSystemdUnit).withGetter(field(&Unit::subState));
    object->registerProperty("Result").onInterface(kSystemdService).withGetter(field(&Unit::result));
    {
        std::lock_guard lock(mutex_);
        units_[unit].object = std::move(object);
    }
    std::lock_guard lock(mutex_);
    units_[unit].object->finishRegistration();
}

void FakePeers::setUnitState(const std::string& unit, const std::string& active, const std::string& sub,
                             const std::string& result) {
    ensureUnit(unit);
    sdbus::IObject* object = nullptr;
    {
        std::lock_guard lock(mutex_);
        auto& entry = units_.at(unit);
        entry.activeState = active;
        entry.subState = sub;
        entry.result = result;
        object = entry.object.get();
    }
    // Not under the mutex: emitting reads the properties through the getters.
    object->emitPropertiesChangedSignal(kSystemdUnit, {"ActiveState", "SubState"});
}

void FakePeers::markActivating(const std::string& unit) {
    setUnitState(unit, "activating", "start");
    std::lock_guard lock(mutex_);
    loading_.erase(unit);
}

void FakePeers::finishJob(std::uint32_t id, const sdbus::ObjectPath& job, const std::string& unit,
                          const std::string& result) {
    systemdManager_->emitSignal("JobRemoved")
        .onInterface(kSystemdManager)
        .withArguments(id, job, unit, result);
}

void FakePeers::completeStart(std::uint32_t id, const sdbus::ObjectPath& job, const std::string& unit,
                              const std::string& machine, const std::string& result) {
    if (result == "done") {
        std::uint32_t leader = 0;
        {
            std::lock_guard lock(mutex_);
            leader = nextLeader_++;
        }
        // As nspawn: the machine registers before the container reports ready.
        addMachine(machine, unit, leader);
        setUnitState(unit, "active", "running");
    } else {
        setUnitState(unit, "failed", "failed", result == "timeout" ? "timeout" : "exit-code");
    }
    finishJob(id, job, unit, result);
}

sdbus::ObjectPath FakePeers::startTransientUnit(const std::string& name, const std::string& mode,
                                                const std::vector<Property>& properties) {
    note("StartTransientUnit " + name);
    auto request = decode(name, mode, properties);
    const auto machine = machineNameOf(request);
    {
        std::lock_guard lock(mutex_);
        if (auto found = units_.find(name);
            found != units_.end() &&
            (found->second.activeState == "active" || found->second.activeState == "activating")) {
            throw sdbus::Error("org.freedesktop.systemd1.UnitExists",
                               "Unit " + name + " was already loaded or has a fragment file.");
        }
        transientUnits_.push_back(request);
    }
    auto job = newJob();
    const std::uint32_t id = std::stoul(std::string(job).substr(job.rfind('/') + 1));
    // Runs after this handler returned: the reply always precedes JobRemoved.
    loop_.post([this, name] { markActivating(name); });
    std::chrono::milliseconds delay;
    std::string result;
    {
        std::lock_guard lock(mutex_);
        loading_.insert(name);
        delay = jobDelay_;
        result = startResult_;
        if (holdStarts_) {
            heldStarts_.push_back({name, id, job, [this, id, job, name, machine, result] {
                                       completeStart(id, job, name, machine, result);
                                   }});
            return job;
        }
    }
    loop_.post([this, id, job, name, machine, result] { completeStart(id, job, name, machine, result); },
               delay);
    return job;
}

sdbus::ObjectPath FakePeers::stopUnit(const std::string& name) {
    note("StopUnit " + name);
    std::chrono::milliseconds delay;
    std::vector<HeldStart> cancelled;
    {
        std::lock_guard lock(mutex_);
        if (!units_.contains(name) && !loading_.contains(name)) {
            throw sdbus::Error("org.freedesktop.systemd1.NoSuchUnit", "Unit " + name + " not loaded.");
        }
        delay = jobDelay_;
        if (auto pending = pendingStops_.find(name); pending != pendingStops_.end()) {
            return pending->second;
        }
        // As systemd: the stop job replaces the unit's pending start job.
        auto held = std::stable_partition(heldStarts_.begin(), heldStarts_.end(),
                                          [&name](const HeldStart& start) { return start.unit != name; });
        std::move(held, heldStarts_.end(), std::back_inserter(cancelled));
        heldStarts_.erase(held, heldStarts_.end());
    }
    for (const auto& start : cancelled) {
        loop_.post([this, start] { finishJob(start.id, start.job, start.unit, "canceled"); });
    }
    auto job = newJob();
    const std::uint32_t id = std::stoul(std::string(job).substr(job.rfind('/') + 1));
    {
        std::lock_guard lock(mutex_);
        pendingStops_[name] = job;
    }
    loop_.post([this, name] {
        if (unitActiveState(name) != "inactive") {
            setUnitState(name, "deactivating", "stop-sigterm");
        }
    });
    loop_.post(
        [this, id, job, name] {
            {
                std::lock_guard lock(mutex_);
                pendingStops_.erase(name);
            }
            removeMachine(machineNameOfUnit(name));
            setUnitState(name, "inactive", "dead");
            finishJob(id, job, name, "done");
        },
        delay);
    return job;
}

void FakePeers::registerSystemd() {
    systemdManager_ = sdbus::createObject(loop_.connection(), "/org/freedesktop/systemd1");
    auto& manager = *systemdManager_;
    using AuxUnits = std::vector<sdbus::Struct<std::string, std::vector<Property>>>;
    manager.registerMethod("Subscribe").onInterface(kSystemdManager).implementedAs([this] {
        note("Subscribe");
    });
    manager.registerMethod("StartTransientUnit")
        .onInterface(kSystemdManager)
        .implementedAs([this](const std::string& name, const std::string& mode,
                              const std::vector<Property>& properties,
                              const AuxUnits&) { return startTransientUnit(name, mode, properties); });
    manager.registerMethod("StartUnit")
        .onInterface(kSystemdManager)
        .implementedAs([this](const std::string& name, const std::string& /*mode*/) {
            note("StartUnit " + name);
            auto job = newJob();
            const std::uint32_t id = std::stoul(std::string(job).substr(job.rfind('/') + 1));
            std::string result;
            std::chrono::milliseconds delay;
            {
                std::lock_guard lock(mutex_);
                result = startResult_;
                delay = jobDelay_;
            }
            {
                std::lock_guard lock(mutex_);
                loading_.insert(name);
            }
            loop_.post([this, name] { markActivating(name); });
            loop_.post([this, id, job, name,
                        result] { completeStart(id, job, name, machineNameOfUnit(name), result); },
                       delay);
            return job;
        });
    manager.registerMethod("StopUnit")
        .onInterface(kSystemdManager)
        .implementedAs(
            [this](const std::string& name, const std::string& /*mode*/) { return stopUnit(name); });
    manager.registerMethod("KillUnit")
        .onInterface(kSystemdManager)
        .implementedAs([this](const std::string& name, const std::string& /*who*/, std::int32_t signal) {
            note("KillUnit " + name + " " + std::to_string(signal));
            std::vector<HeldStart> killed;
            {
                std::lock_guard lock(mutex_);
                if (!units_.contains(name) && !loading_.contains(name)) {
                    throw sdbus::Error("org.freedesktop.systemd1.NoSuchUnit",
                                       "Unit " + name + " not loaded.");
                }
                // The main process dies: a pending start job fails.
                auto held =
                    std::stable_partition(heldStarts_.begin(), heldStarts_.end(),
                                          [&name](const HeldStart& start) { return start.unit != name; });
                std::move(held, heldStarts_.end(), std::back_inserter(killed));
                heldStarts_.erase(held, heldStarts_.end());
            }
            for (const auto& start : killed) {
                loop_.post([this, start] {
                    removeMachine(machineNameOfUnit(start.unit));
                    setUnitState(start.unit, "failed", "failed", "signal");
                    finishJob(start.id, start.job, start.unit, "failed");
                });
            }
        });
    manager.registerMethod("SetUnitProperties")
        .onInterface(kSystemdManager)
        .implementedAs([this](const std::string& name, bool runtime,
                              const std::vector<sdbus::Struct<std::string, sdbus::Variant>>& properties) {
            std::string call = "SetUnitProperties " + name + (runtime ? " runtime" : " persistent");
            for (const auto& property : properties) {
                call +=
                    " " + property.get<0>() + "=" + std::to_string(property.get<1>().get<std::uint64_t>());
            }
            note(call);
            std::lock_guard lock(mutex_);
            if (!units_.contains(name)) {
                throw sdbus::Error("org.freedesktop.systemd1.NoSuchUnit", "Unit " + name + " not loaded.");
            }
        });
    manager.registerMethod("ResetFailedUnit")
        .onInterface(kSystemdManager)
        .implementedAs([this](const std::string& name) {
            note("ResetFailedUnit " + name);
            bool failed = false;
            {
                std::lock_guard lock(mutex_);
                auto found = units_.find(name);
                if (found == units_.end()) {
                    throw sdbus::Error("org.freedesktop.systemd1.NoSuchUnit",
                                       "Unit " + name + " not loaded.");
                }
                failed = found->second.activeState == "failed";
            }
            if (failed) {
                // As systemd: the state changes before the reply (a GetAll right
                // after it sees "inactive"); only the signal follows.
                {
                    std::lock_guard lock(mutex_);
                    auto& unit = units_.at(name);
                    unit.activeState = "inactive";
                    unit.subState = "dead";
                    unit.result = "success";
                }
                loop_.post([this, name] {
                    sdbus::IObject* object = nullptr;
                    {
                        std::lock_guard lock(mutex_);
                        object = units_.at(name).object.get();
                    }
                    object->emitPropertiesChangedSignal(kSystemdUnit, {"ActiveState", "SubState"});
                });
            }
        });
    using UnitRow =
        sdbus::Struct<std::string, std::string, std::string, std::string, std::string, std::string,
                      sdbus::ObjectPath, std::uint32_t, std::string, sdbus::ObjectPath>;
    manager.registerMethod("ListUnitsByPatterns")
        .onInterface(kSystemdManager)
        .implementedAs(
            [this](const std::vector<std::string>& /*states*/, const std::vector<std::string>& patterns) {
                note("ListUnitsByPatterns");
                std::vector<UnitRow> rows;
                std::lock_guard lock(mutex_);
                for (const auto& [name, unit] : units_) {
                    const auto& unitName = name;
                    bool matches =
                        patterns.empty() || std::any_of(patterns.begin(), patterns.end(), [&](const auto& p) {
                            return ::fnmatch(p.c_str(), unitName.c_str(), 0) == 0;
                        });
                    if (!matches || unit.activeState == "inactive") {
                        continue;  // systemd forgets inactive transient units
                    }
                    rows.emplace_back(name, "fake " + name, "loaded", unit.activeState, unit.subState, "",
                                      sdbus::ObjectPath(unitPath(name)), 0u, "", sdbus::ObjectPath("/"));
                }
                return rows;
            });
    manager.registerSignal("JobRemoved")
        .onInterface(kSystemdManager)
        .withParameters<std::uint32_t, sdbus::ObjectPath, std::string, std::string>();
    manager.registerSignal("UnitRemoved")
        .onInterface(kSystemdManager)
        .withParameters<std::string, sdbus::ObjectPath>();
    manager.finishRegistration();
}

}  // namespace bus_tests
