// Fake org.freedesktop.systemd1 (fake_systemd.cpp), org.freedesktop.machine1
// (fake_machined.cpp) and org.freedesktop.PolicyKit1 (fake_polkit.cpp) on the
// private bus: the subset of their APIs the service's adapters use, with
// everything the service asks recorded for the tests to assert on. All bus
// work runs on one PeerLoop thread; the recorded state is guarded by one
// mutex so tests can read it any time.
#pragma once

#include "peer_loop.h"

#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace bus_tests {

// The value of an a{sv} entry when it has type T, else FALLBACK.
template <typename T>
T variantOr(const sdbus::Variant& value, T fallback) {
    return value.containsValueOfType<T>() ? value.get<T>() : fallback;
}

// libsystemd's sd_bus_path_encode / sd_bus_path_decode, called here directly
// (not through the service's code): how systemd names its unit and machine
// objects, and how a client computes a container's object path.
std::string pathEncode(const std::string& prefix, const std::string& label);
// The label of PATH, a direct child of PREFIX; nothing when it is not one.
std::optional<std::string> pathDecode(const std::string& path, const std::string& prefix);

// What one StartTransientUnit asked for, decoded from its a(sv).
struct TransientUnitRequest {
    std::string unit;
    std::string mode;
    std::set<std::string> propertyNames;
    std::string type, slice, killMode, notifyAccess, devicePolicy, description, restart;
    bool delegate = false;
    std::int32_t killSignal = 0;
    std::vector<std::int32_t> successExitStatus, restartForceExitStatus;
    std::uint64_t timeoutStartUSec = 0;
    std::vector<std::pair<std::string, std::string>> deviceAllow;
    std::vector<std::string> execStart;  // argv of the single ExecStart command
    std::string execPath;
    std::vector<std::string> runtimeDirectory, requiresMountsFor, environment;
};

struct PolkitCheck {
    std::string subjectKind;
    std::string busName;
    std::uint32_t uid = 0;
    std::string action;
    std::map<std::string, std::string> details;
    std::uint32_t flags = 0;
};

enum class PolkitAnswer { Allow, Deny, Challenge };

struct PeerOptions {
    bool systemd = true;
    bool machined = true;
    bool polkit = true;
};

class FakePeers {
public:
    FakePeers(const std::string& address, PeerOptions options);
    ~FakePeers();
    FakePeers(const FakePeers&) = delete;
    FakePeers& operator=(const FakePeers&) = delete;

    // ---- configuration (any thread)
    // How long a start/stop job takes before JobRemoved.
    void setJobDelay(std::chrono::milliseconds delay);
    // The result of the next start jobs: "done", "failed", "timeout"...
    void setStartResult(const std::string& result);
    // While held, start jobs stay queued until releaseStartJobs().
    void holdStartJobs();
    void releaseStartJobs();
    void setPolkitAnswer(std::uint32_t uid, PolkitAnswer answer);

    // Puts a unit and a machine in place as if started before the service ran.
    // A machine registration alone (no unit runs): what a crash leaves.
    void addMachine(const std::string& name, const std::string& unit, std::uint32_t leader);
    void addRunningUnit(const std::string& unit, const std::string& machine, std::uint32_t leader);
    // The container ends on its own (poweroff inside): machine gone, unit inactive.
    void terminateFromOutside(const std::string& machine);

    // ---- observations (any thread)
    std::vector<TransientUnitRequest> transientUnits() const;
    std::vector<std::string> managerCalls() const;  // "Method arg", in order
    std::vector<PolkitCheck> polkitChecks() const;
    // polkitd coming onto the bus (its name and object) or leaving it.
    void setPolkitRunning(bool running);
    std::optional<std::string> unitActiveState(const std::string& unit) const;
    bool hasMachine(const std::string& name) const;
    std::uint32_t machineLeader(const std::string& name) const;
    std::size_t heldStartJobs() const;

private:
    struct Unit {
        std::string activeState = "inactive";
        std::string subState = "dead";
        std::string result = "success";
        std::unique_ptr<sdbus::IObject> object;
    };
    struct Machine {
        std::string unit;
        std::uint32_t leader = 0;
        std::unique_ptr<sdbus::IObject> object;
    };
    using Property = sdbus::Struct<std::string, sdbus::Variant>;

    void registerSystemd();
    void registerMachined();
    void registerPolkit();

    // Loop thread only.
    sdbus::ObjectPath newJob();
    void ensureUnit(const std::string& unit);
    void setUnitState(const std::string& unit, const std::string& active, const std::string& sub,
                      const std::string& result = "success");
    void markActivating(const std::string& unit);
    void finishJob(std::uint32_t id, const sdbus::ObjectPath& job, const std::string& unit,
                   const std::string& result);
    void completeStart(std::uint32_t id, const sdbus::ObjectPath& job, const std::string& unit,
                       const std::string& machine, const std::string& result);
    void removeMachine(const std::string& name);
    void note(const std::string& call);

    sdbus::ObjectPath startTransientUnit(const std::string& name, const std::string& mode,
                                         const std::vector<Property>& properties);
    sdbus::ObjectPath stopUnit(const std::string& name);
    sdbus::Struct<bool, bool, std::map<std::string, std::string>> checkAuthorization(
        const sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>& subject,
        const std::string& action, const std::map<std::string, std::string>& details, std::uint32_t flags);

    PeerOptions options_;
    PeerLoop loop_;
    std::unique_ptr<sdbus::IObject> systemdManager_;
    std::unique_ptr<sdbus::IObject> machinedManager_;
    std::unique_ptr<sdbus::IObject> authority_;

    mutable std::mutex mutex_;
    std::map<std::string, Unit> units_;
    std::map<std::string, Machine> machines_;
    std::vector<TransientUnitRequest> transientUnits_;
    std::vector<std::string> calls_;
    std::vector<PolkitCheck> polkitChecks_;
    std::map<std::uint32_t, PolkitAnswer> polkitAnswers_;
    std::chrono::milliseconds jobDelay_{0};
    std::string startResult_ = "done";
    bool holdStarts_ = false;
    struct HeldStart {
        std::string unit;
        std::uint32_t id;
        sdbus::ObjectPath job;
        std::function<void()> complete;
    };
    std::vector<HeldStart> heldStarts_;
    // Units a start loaded whose object is not made yet (that runs after the
    // start's reply): as in systemd, they are loaded from the start on.
    std::set<std::string> loading_;
    // As systemd: a StopUnit while the unit's stop job is queued gets that job.
    std::map<std::string, sdbus::ObjectPath> pendingStops_;
    std::uint32_t nextJob_ = 1;
    std::uint32_t nextLeader_ = 4000;
};

}  // namespace bus_tests
