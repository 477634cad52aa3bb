#pragma once

// The outside world, as the core sees it. Each seam has a real adapter
// (service/adapters) proven against the real program in the sandbox, and a
// fake for fast tests. Every callback runs on the service's one event loop,
// exactly once, and never re-entrantly from inside the call that set it up.

#include "container_state.h"
#include "outcome.h"
#include "transient_unit.h"
#include "unique_fd.h"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace nixos_containers {

// org.freedesktop.systemd1.Manager.
class SystemdManager {
public:
    virtual ~SystemdManager() = default;
    // Completes when the start job finished: ok when its result is "done",
    // otherwise StartFailed naming the job result and the unit's Result.
    virtual void startTransientUnit(const TransientUnit& unit, StatusCallback done) = 0;
    // The same for an existing (declarative) unit.
    virtual void startUnit(const std::string& unit, StatusCallback done) = 0;
    // Completes when the stop job finished; a unit that is not loaded is ok.
    virtual void stopUnit(const std::string& unit, StatusCallback done) = 0;
    // Sends `signal` to every process of the unit (no job); a unit that is
    // not loaded is ok.
    virtual void killUnit(const std::string& unit, int signal, StatusCallback done) = 0;
    // Sets properties of a loaded unit for as long as it is loaded (runtime
    // only), applying them to its cgroup at once.
    virtual void setUnitProperties(const std::string& unit, const std::vector<UnitProperty>& properties,
                                   StatusCallback done) = 0;
    // Forgets a failed unit so a transient unit of that name can be made again.
    virtual void resetFailedUnit(const std::string& unit, StatusCallback done) = 0;
    // A unit that is not loaded reads as inactive.
    virtual void unitState(const std::string& unit, Callback<UnitState> done) = 0;
    // The loaded units matching shell-style patterns, in one call.
    virtual void listUnits(const std::vector<std::string>& patterns,
                           Callback<std::map<std::string, UnitState>> done) = 0;
    // Every ActiveState change of a unit whose name starts with one of
    // `unitPrefixes`, from the manager's signals.
    virtual void watchUnits(const std::vector<std::string>& unitPrefixes,
                            std::function<void(const std::string& unit, const UnitState&)> onChange) = 0;
};

struct MachineInfo {
    std::string name;
    std::string unit;
    std::uint32_t leader = 0;
    std::string path;             // machined's object path of the machine
    std::uint64_t timestamp = 0;  // CLOCK_REALTIME usec of its registration; 0 when unknown
};

// A terminal machined opened in a container: the master side of its PTY,
// and the PTY's name as the container sees it.
struct MachineTerminal {
    std::shared_ptr<UniqueFd> master;
    std::string path;
};

// What OpenMachineShell runs: USER (empty: root) runs PATH with ARGS (PATH
// empty: the user's login shell) and ENVIRONMENT entries on top.
struct ShellRequest {
    std::string user;
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> environment;
};

// org.freedesktop.machine1.Manager.
class MachineRegistry {
public:
    virtual ~MachineRegistry() = default;
    // A machine that does not exist is ok.
    virtual void terminateMachine(const std::string& name, StatusCallback done) = 0;
    virtual void getMachine(const std::string& name, Callback<std::optional<MachineInfo>> done) = 0;
    virtual void listMachines(Callback<std::vector<MachineInfo>> done) = 0;
    virtual void machineAddresses(const std::string& name, Callback<std::vector<std::string>> done) = 0;
    // GetMachineOSRelease: the container's os-release, as machined reads it.
    virtual void machineOSRelease(const std::string& name,
                                  Callback<std::map<std::string, std::string>> done) = 0;
    // OpenMachineShell / OpenMachineLogin: machined asks the container's own
    // systemd over the container's own bus. NotRunning when machined knows
    // no such machine; NoSystemBus when the container has no system bus.
    virtual void openShell(const std::string& name, const ShellRequest& request,
                           Callback<MachineTerminal> done) = 0;
    virtual void openLogin(const std::string& name, Callback<MachineTerminal> done) = 0;
    // MachineNew / MachineRemoved.
    virtual void watchMachines(std::function<void(const std::string& name, bool present)> onChange) = 0;
};

struct Caller {
    std::string busName;
    std::uint32_t uid = 0;
    bool allowInteractive = false;
    // The service itself (AutoStart): no polkit check.
    bool internal = false;
};

enum class Authorization { Allowed, Denied, ChallengeRequired };

// org.freedesktop.PolicyKit1.Authority.CheckAuthorization.
class Authorizer {
public:
    virtual ~Authorizer() = default;
    virtual void check(const Caller& caller, const std::string& actionId,
                       const std::map<std::string, std::string>& details, Callback<Authorization> done) = 0;
};

struct ProcessRequest {
    std::vector<std::string> argv;  // argv[0] is an absolute path; never a shell
    std::vector<std::string> environment;
    // When set, the process runs in the container whose init this is, as
    // its root and confined as a ConfinedRequest is (argv[0] is then a path
    // inside the container).
    std::optional<pid_t> namespacesOf;
    // When it has not ended this long after it started, it is killed (with
    // whatever it started) and its exit says timedOut. 0: no timeout.
    std::uint64_t timeoutUsec = 0;
};

// Who a confined command runs as, in the container's user namespace.
struct ProcessIdentity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary
};

// A command a caller runs in a container (Run): the confined runner.
struct ConfinedRequest {
    // argv[0] as the caller gave it; the process executes the first of
    // `executables` that can be executed (the PATH search, done beforehand).
    std::vector<std::string> argv;
    std::vector<std::string> executables;
    std::vector<std::string> environment;
    std::string workingDirectory = "/";  // inside the container
    ProcessIdentity identity;
    // The container's init: the process joins every namespace of it (its
    // user namespace too, when it is not the service's), its root, its
    // cgroup (a child cgroup of the container's payload, killed as a whole)
    // and its capability bounding set, with no_new_privs set.
    pid_t leader = 0;
    // The container's unit: the leader must be in its cgroup (a PID the
    // container's init left, and something else took, is refused).
    std::string unit;
    // Become the process's 0, 1 and 2; closed in the service once it forked.
    std::shared_ptr<StdioFds> stdio;
};

using ProcessId = std::uint64_t;

struct ProcessExit {
    int exitStatus = 0;     // when exited normally
    int signal = 0;         // when killed
    bool timedOut = false;  // killed at its request's timeout
    [[nodiscard]] bool success() const { return signal == 0 && exitStatus == 0 && !timedOut; }
};

// Runs helper programs (the builder, switch-to-configuration) without
// blocking the loop; stdout and stderr arrive as lines.
class ProcessRunner {
public:
    virtual ~ProcessRunner() = default;
    // Returns an id for kill().
    virtual ProcessId run(const ProcessRequest& request, std::function<void(const std::string& line)> onLine,
                          Callback<ProcessExit> done) = 0;
    // Starts a confined command; `done` gets its exit once its main process
    // ended (the rest of its cgroup is then killed). Returns an id for kill().
    virtual ProcessId spawn(const ConfinedRequest& request, Callback<ProcessExit> done) = 0;
    // Kills every process of a spawned command, or of a run() (its output
    // is then no longer waited for); `done` still follows, once. An id that
    // already finished is ignored.
    virtual void kill(ProcessId id) = 0;
};

// Runs slow, self-contained work (netlink link deletion, removing a root
// tree) off the event loop. `work` must not touch the core's state; `done`
// runs on the loop with the ContainerError `work` threw, if any.
class Worker {
public:
    virtual ~Worker() = default;
    // Short work a caller waits for (a host key, an owner's name).
    virtual void run(std::function<void()> work, StatusCallback done) = 0;
    // Work that may take seconds (the steps of operations, removing a root
    // tree): a lane of its own, so that short work never waits behind it.
    virtual void runLong(std::function<void()> work, StatusCallback done) {
        run(std::move(work), std::move(done));
    }
};

}  // namespace nixos_containers
