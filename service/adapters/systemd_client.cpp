#include "systemd_client.h"

#include "log.h"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

namespace nixos_containers {

namespace {
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
constexpr const char* kNoSuchUnit = "org.freedesktop.systemd1.NoSuchUnit";
constexpr const char* kUnitPathPrefix = "/org/freedesktop/systemd1/unit";

using CString = std::unique_ptr<char, decltype(&std::free)>;

// systemd's object path of a unit: sd_bus_path_encode, as systemd names it.
std::string unitPath(const std::string& unit) {
    char* raw = nullptr;
    const int result = sd_bus_path_encode(kUnitPathPrefix, unit.c_str(), &raw);
    const CString path(raw, &std::free);
    if (result < 0) {
        throw ContainerError(ErrorCode::Failed, "cannot name the object of unit " + quoteValue(unit) + ": " +
                                                    std::strerror(-result));
    }
    return path.get();
}

// The unit whose object PATH is, or nothing when PATH is no unit's.
std::optional<std::string> unitOfPath(const std::string& path) {
    char* raw = nullptr;
    const int result = sd_bus_path_decode(path.c_str(), kUnitPathPrefix, &raw);
    const CString unit(raw, &std::free);
    if (result < 0) {
        throw ContainerError(ErrorCode::Failed,
                             "cannot read the unit of " + quoteValue(path) + ": " + std::strerror(-result));
    }
    if (result == 0) {
        return std::nullopt;
    }
    return std::string(unit.get());
}

ContainerError peerError(ErrorCode code, const std::string& what, const sdbus::Error& error) {
    return {code, what + ": " + error.getMessage() + " (" + error.getName() + ")"};
}

using Property = sdbus::Struct<std::string, sdbus::Variant>;

std::vector<Property> unitProperties(const TransientUnit& unit) {
    using ExecCommand = sdbus::Struct<std::string, std::vector<std::string>, bool>;
    using ExitStatus = sdbus::Struct<std::vector<std::int32_t>, std::vector<std::int32_t>>;
    std::vector<sdbus::Struct<std::string, std::string>> deviceAllow;
    for (const auto& [node, modifier] : unit.deviceAllow) {
        deviceAllow.emplace_back(node, modifier);
    }
    std::vector<Property> properties = {
        {"Description", sdbus::Variant(unit.description)},
        {"Slice", sdbus::Variant(unit.slice)},
        {"Type", sdbus::Variant(unit.type)},
        {"NotifyAccess", sdbus::Variant(unit.notifyAccess)},
        {"Delegate", sdbus::Variant(unit.delegate)},
        {"KillMode", sdbus::Variant(unit.killMode)},
        {"KillSignal", sdbus::Variant(std::int32_t{unit.killSignal})},
        {"SuccessExitStatus",
         sdbus::Variant(ExitStatus(unit.successExitStatus, std::vector<std::int32_t>{}))},
        {"RestartForceExitStatus",
         sdbus::Variant(ExitStatus(unit.restartForceExitStatus, std::vector<std::int32_t>{}))},
        {"Restart", sdbus::Variant(unit.restart)},
        {"TimeoutStartUSec", sdbus::Variant(std::uint64_t{unit.timeoutStartUsec})},
        {"TimeoutStartFailureMode", sdbus::Variant(unit.timeoutStartFailureMode)},
        {"DevicePolicy", sdbus::Variant(unit.devicePolicy)},
        {"DeviceAllow", sdbus::Variant(deviceAllow)},
        {"SyslogIdentifier", sdbus::Variant(unit.syslogIdentifier)},
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{
                          ExecCommand(unit.execStart.front(), unit.execStart, false)})},
    };
    for (const auto& limit : unit.limits) {
        properties.emplace_back(limit.name, sdbus::Variant(limit.value));
    }
    if (!unit.runtimeDirectory.empty()) {
        properties.emplace_back("RuntimeDirectory", sdbus::Variant(unit.runtimeDirectory));
    }
    if (!unit.requiresMountsFor.empty()) {
        properties.emplace_back("RequiresMountsFor", sdbus::Variant(unit.requiresMountsFor));
    }
    if (!unit.environment.empty()) {
        properties.emplace_back("Environment", sdbus::Variant(unit.environment));
    }
    if (!unit.networkNamespacePath.empty()) {
        properties.emplace_back("NetworkNamespacePath", sdbus::Variant(unit.networkNamespacePath));
    }
    return properties;
}
}  // namespace

SystemdClient::SystemdClient(sdbus::IConnection& connection, std::string destination)
    : connection_(connection),
      destination_(std::move(destination)),
      manager_(sdbus::createProxy(connection, destination_, "/org/freedesktop/systemd1")) {
    manager_->uponSignal("JobRemoved")
        .onInterface(kManager)
        .call([this](std::uint32_t /*id*/, const sdbus::ObjectPath& job, const std::string& unit,
                     const std::string& result) { onJobRemoved(job, unit, result); });
    manager_->uponSignal("UnitRemoved")
        .onInterface(kManager)
        .call([this](const std::string& unit, const sdbus::ObjectPath& /*path*/) {
            if (onUnitChange_) {
                onUnitChange_(unit, UnitState{});
            }
        });
    manager_->finishRegistration();
    // Unit PropertiesChanged and JobRemoved for jobs of others reach only
    // subscribers. The reply is not awaited: the match is in place already.
    manager_->callMethodAsync("Subscribe")
        .onInterface(kManager)
        .uponReplyInvoke([](const sdbus::Error* error) {
            if (error != nullptr) {
                logWarning("systemd Subscribe failed: " + error->getMessage());
            }
        });
}

void SystemdClient::watchUnits(const std::vector<std::string>& unitPrefixes,
                               std::function<void(const std::string&, const UnitState&)> onChange) {
    onUnitChange_ = std::move(onChange);
    // sd_bus_path_encode escapes a byte at a time (only the first byte's
    // escaping depends on its place), so the path of a nonempty prefix is a
    // prefix of the path of every name it begins.
    watchedPathPrefixes_.clear();
    for (const auto& prefix : unitPrefixes) {
        watchedPathPrefixes_.push_back(prefix.empty() ? std::string(kUnitPathPrefix) + "/"
                                                      : unitPath(prefix));
    }
    propertiesMatch_ = connection_.addMatch(
        "type='signal',sender='" + destination_ +
            "',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
            "path_namespace='/org/freedesktop/systemd1/unit',arg0='org.freedesktop.systemd1.Unit'",
        [this](sdbus::Message& message) { onUnitProperties(message); });
}

void SystemdClient::onUnitProperties(sdbus::Message& message) {
    // Every unit's changes arrive here (a match cannot select unit names);
    // decoding the others' dozens of properties cost a storm of starts dearly.
    const std::string path = message.getPath();
    if (!onUnitChange_ || std::none_of(watchedPathPrefixes_.begin(), watchedPathPrefixes_.end(),
                                       [&](const std::string& prefix) { return path.starts_with(prefix); })) {
        return;
    }
    std::string interface;
    std::map<std::string, sdbus::Variant> changed;
    std::vector<std::string> invalidated;
    message >> interface >> changed >> invalidated;
    std::optional<std::string> decoded;
    try {
        decoded = unitOfPath(path);
    } catch (const ContainerError& error) {
        logWarning(error.what());
        return;
    }
    if (!decoded) {
        return;
    }
    const std::string unit = std::move(*decoded);
    if (auto active = changed.find("ActiveState"); active != changed.end()) {
        UnitState state;
        state.activeState = active->second.get<std::string>();
        if (auto sub = changed.find("SubState"); sub != changed.end()) {
            state.subState = sub->second.get<std::string>();
        }
        onUnitChange_(unit, state);
    } else if (std::find(invalidated.begin(), invalidated.end(), "ActiveState") != invalidated.end()) {
        unitState(unit, [this, unit](Outcome<UnitState> state) {
            if (state.ok() && onUnitChange_) {
                onUnitChange_(unit, state.value());
            }
        });
    }
}

void SystemdClient::awaitJob(const std::string& unit, ErrorCode failure, StatusCallback done,
                             const sdbus::Error* error, const sdbus::ObjectPath& job) {
    if (error != nullptr) {
        done(peerError(failure, "systemd refused to queue a job for " + unit, *error));
        return;
    }
    PendingJob pending{unit, failure, std::move(done)};
    if (auto finished = finishedJobs_.find(job); finished != finishedJobs_.end()) {
        completeJob(std::move(pending), finished->second);
        return;
    }
    jobs_.emplace(job, std::move(pending));
}

void SystemdClient::onJobRemoved(const sdbus::ObjectPath& job, const std::string& /*unit*/,
                                 const std::string& result) {
    // Remembered for waiters whose reply is still in flight; jobs of others
    // land here too, so the memory is bounded by forgetting now and then.
    if (finishedJobs_.size() > 256) {
        finishedJobs_.clear();
    }
    finishedJobs_[job] = result;
    auto [first, last] = jobs_.equal_range(job);
    std::vector<PendingJob> waiting;
    for (auto it = first; it != last; ++it) {
        waiting.push_back(std::move(it->second));
    }
    jobs_.erase(first, last);
    for (auto& pending : waiting) {
        completeJob(std::move(pending), result);
    }
}

void SystemdClient::completeJob(PendingJob pending, const std::string& result) {
    if (result == "done") {
        pending.done(Done{});
        return;
    }
    // The job result says little ("failed"); the unit's Result says why.
    auto unit = pending.unit;
    unitState(unit, [pending = std::move(pending), result](Outcome<UnitState> state) {
        std::string message = "unit " + pending.unit + " job " + result;
        if (state.ok()) {
            message += "; unit is " + state.value().activeState;
            if (!state.value().result.empty()) {
                message += " with result '" + state.value().result + "'";
            }
        }
        pending.done(ContainerError(pending.failure, message));
    });
}

void SystemdClient::startTransientUnit(const TransientUnit& unit, StatusCallback done) {
    auto name = unit.name;
    manager_->callMethodAsync("StartTransientUnit")
        .onInterface(kManager)
        .withArguments(unit.name, std::string("fail"), unitProperties(unit),
                       std::vector<sdbus::Struct<std::string, std::vector<Property>>>{})
        .uponReplyInvoke(
            [this, name, done = std::move(done)](const sdbus::Error* error, const sdbus::ObjectPath& job) {
                awaitJob(name, ErrorCode::StartFailed, done, error, job);
            });
}

void SystemdClient::startUnit(const std::string& unit, StatusCallback done) {
    manager_->callMethodAsync("StartUnit")
        .onInterface(kManager)
        .withArguments(unit, std::string("replace"))
        .uponReplyInvoke(
            [this, unit, done = std::move(done)](const sdbus::Error* error, const sdbus::ObjectPath& job) {
                awaitJob(unit, ErrorCode::StartFailed, done, error, job);
            });
}

void SystemdClient::stopUnit(const std::string& unit, StatusCallback done) {
    manager_->callMethodAsync("StopUnit")
        .onInterface(kManager)
        .withArguments(unit, std::string("replace"))
        .uponReplyInvoke(
            [this, unit, done = std::move(done)](const sdbus::Error* error, const sdbus::ObjectPath& job) {
                if (error != nullptr && error->getName() == kNoSuchUnit) {
                    done(Done{});
                    return;
                }
                awaitJob(unit, ErrorCode::StopFailed, done, error, job);
            });
}

void SystemdClient::killUnit(const std::string& unit, int signal, StatusCallback done) {
    manager_->callMethodAsync("KillUnit")
        .onInterface(kManager)
        .withArguments(unit, std::string("all"), std::int32_t{signal})
        .uponReplyInvoke([unit, done = std::move(done)](const sdbus::Error* error) {
            if (error != nullptr && error->getName() != kNoSuchUnit) {
                done(peerError(ErrorCode::StopFailed, "cannot kill " + unit, *error));
                return;
            }
            done(Done{});
        });
}

void SystemdClient::resetFailedUnit(const std::string& unit, StatusCallback done) {
    manager_->callMethodAsync("ResetFailedUnit")
        .onInterface(kManager)
        .withArguments(unit)
        .uponReplyInvoke([unit, done = std::move(done)](const sdbus::Error* error) {
            if (error != nullptr && error->getName() != kNoSuchUnit) {
                done(peerError(ErrorCode::Failed, "cannot reset " + unit, *error));
                return;
            }
            done(Done{});
        });
}

void SystemdClient::setUnitProperties(const std::string& unit, const std::vector<UnitProperty>& properties,
                                      StatusCallback done) {
    std::vector<Property> values;
    values.reserve(properties.size());
    for (const auto& property : properties) {
        values.emplace_back(property.name, sdbus::Variant(property.value));
    }
    manager_->callMethodAsync("SetUnitProperties")
        .onInterface(kManager)
        .withArguments(unit, true, values)
        .uponReplyInvoke([unit, done = std::move(done)](const sdbus::Error* error) {
            if (error != nullptr) {
                done(peerError(ErrorCode::Failed, "cannot set the limits of " + unit, *error));
                return;
            }
            done(Done{});
        });
}

void SystemdClient::unitState(const std::string& unit, Callback<UnitState> done) {
    sdbus::ObjectPath path;
    try {
        path = sdbus::ObjectPath(unitPath(unit));
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto proxy = std::shared_ptr<sdbus::IProxy>(sdbus::createProxy(connection_, destination_, path));
    // GetAll of the Unit interface, then Result from the Service interface.
    proxy->callMethodAsync("GetAll")
        .onInterface(kProperties)
        .withArguments(std::string(kUnit))
        .uponReplyInvoke([proxy, unit, done = std::move(done)](
                             const sdbus::Error* error, const std::map<std::string, sdbus::Variant>& values) {
            if (error != nullptr) {
                done(peerError(ErrorCode::Failed, "cannot read unit " + unit, *error));
                return;
            }
            UnitState state;
            if (auto found = values.find("ActiveState"); found != values.end()) {
                state.activeState = found->second.get<std::string>();
            }
            if (auto found = values.find("SubState"); found != values.end()) {
                state.subState = found->second.get<std::string>();
            }
            proxy->callMethodAsync("Get")
                .onInterface(kProperties)
                .withArguments(std::string("org.freedesktop.systemd1.Service"), std::string("Result"))
                .uponReplyInvoke(
                    [proxy, state, done](const sdbus::Error* error, const sdbus::Variant& result) {
                        auto withResult = state;
                        if (error == nullptr) {
                            withResult.result = result.get<std::string>();
                        }
                        done(withResult);
                    });
        });
}

void SystemdClient::listUnits(const std::vector<std::string>& patterns,
                              Callback<std::map<std::string, UnitState>> done) {
    using UnitRow =
        sdbus::Struct<std::string, std::string, std::string, std::string, std::string, std::string,
                      sdbus::ObjectPath, std::uint32_t, std::string, sdbus::ObjectPath>;
    manager_->callMethodAsync("ListUnitsByPatterns")
        .onInterface(kManager)
        .withArguments(std::vector<std::string>{}, patterns)
        .uponReplyInvoke(
            [done = std::move(done)](const sdbus::Error* error, const std::vector<UnitRow>& rows) {
                if (error != nullptr) {
                    done(peerError(ErrorCode::Failed, "cannot list units", *error));
                    return;
                }
                std::map<std::string, UnitState> units;
                for (const auto& row : rows) {
                    UnitState state;
                    state.activeState = row.get<3>();
                    state.subState = row.get<4>();
                    units.emplace(row.get<0>(), state);
                }
                done(units);
            });
}

}  // namespace nixos_containers
