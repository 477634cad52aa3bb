#pragma once

#include "authorization_gate.h"
#include "container_registry.h"
#include "container_users.h"
#include "settings.h"
#include "system_seams.h"
#include "verb_table.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nixos_containers {

struct RunOptions {
    std::string user;                      // a name or a uid in the container; empty: root
    std::vector<std::string> environment;  // NAME=VALUE, over the defaults
    std::string workingDirectory;          // absolute, inside; empty: /
};

struct RunCommand {
    std::vector<std::string> argv;  // argv[0] absolute, or found in PATH
    RunOptions options;
    std::shared_ptr<StdioFds> stdio;
};

// The default PATH of a command: NixOS's, then the usual directories.
inline constexpr const char* kRunPath =
    "/run/wrappers/bin:/run/current-system/sw/bin:/run/current-system/sw/sbin:"
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Run: a caller's command in a running container, through the confined
// runner. Not an operation: it does not take the container, so several run
// at once beside any verb (a Stop ends them with the container).
// validate → authorise (org.nixos.containers.run) → a slot (Settings::
// maxRuns, maxRunsPerUser; root needs none) → running? → resolve the user
// in the container's own passwd (on the worker) → spawn. A caller that
// leaves the bus gets its commands killed.
class CommandRunner {
public:
    CommandRunner(const Settings& settings, ContainerRegistry& registry, AuthorizationGate& gate,
                  ProcessRunner& processes, Worker& worker)
        : settings_(settings), registry_(registry), gate_(gate), processes_(processes), worker_(worker) {}

    // `done` gets the command's exit, or NoSuchContainer, InvalidArgument,
    // NotRunning, LimitsExceeded, AccessDenied, InteractiveAuthorizationRequired, Failed.
    void run(const Caller& caller, const std::string& name, RunCommand command, Callback<ProcessExit> done);
    // The bus name left the bus: its commands are killed (their answers
    // still come, once, for nobody).
    void callerGone(const std::string& busName);
    [[nodiscard]] std::size_t running() const { return entries_.size(); }

private:
    struct Entry {
        std::string busName;
        std::uint32_t uid = 0;
        bool cancelled = false;
        // Counted against the bounds: taken once polkit allowed the command
        // (a caller still being asked holds none), never for root.
        bool holdsSlot = false;
        std::optional<ProcessId> process;
    };
    // Takes a slot for entry `id`; throws LimitsExceeded when its uid, or
    // the callers other than root together, are at their bound.
    void takeSlot(std::uint64_t id, const Caller& caller);
    void resolved(std::uint64_t id, const std::string& name, pid_t leader, RunCommand command,
                  Callback<ProcessExit> done);
    // Ends entry `id` with `result`, unless the caller left: then with an error.
    void finish(std::uint64_t id, const Callback<ProcessExit>& done, Outcome<ProcessExit> result);
    bool cancelled(std::uint64_t id, const Callback<ProcessExit>& done);

    const Settings& settings_;
    ContainerRegistry& registry_;
    AuthorizationGate& gate_;
    ProcessRunner& processes_;
    Worker& worker_;
    std::map<std::uint64_t, Entry> entries_;
    std::uint64_t nextId_ = 1;
};

// An entry into a container (Run, OpenShell, OpenLogin, Reload) acts as
// users of the container, its root by default. Unless PrivateUsers is
// "pick" those are the host's: "no" makes the container's root the host's
// root, "identity" and a base uid map to host uids the service did not
// choose. Such an entry is host access, as creating such a container is.
bool entryReachesHost(const Container& container);
inline constexpr const char* kEntryHostKey = "PrivateUsers";
// Authorises an entry into NAME: POLICY's action with DETAILS, then, when
// the container as it is then reaches the host, host access with
// keys=PrivateUsers as well. `done` gets whether host access was granted
// (always for root and the service), for checkEntry.
void authorizeEntry(AuthorizationGate& gate, const ContainerRegistry& registry, const Caller& caller,
                    const VerbPolicy& policy, const std::string& name,
                    const std::map<std::string, std::string>& details, Callback<bool> done);
// When the entry happens: throws AccessDenied if the container came to
// reach the host (a restart with other PrivateUsers) after its entry was
// authorised without host access.
void checkEntry(const Container& container, bool hostAccessGranted);

// What a caller says about a command in a container, checked before polkit
// sees it: a user name or uid (empty: root), NAME=VALUE entries.
bool isUserName(const std::string& user);
void validateUser(const std::string& user);
void validateEnvironment(const std::vector<std::string>& environment);
// The words of a command as polkit's `command` detail shows them.
std::string joinedCommand(const std::vector<std::string>& argv);

// The environment of a command: PATH, HOME, USER, LOGNAME and SHELL from
// the user's entry, then the caller's entries, which win by name.
std::vector<std::string> commandEnvironment(const PasswdEntry& user, const std::vector<std::string>& extra);
// Where argv0 may be: itself when it names a path, otherwise each absolute
// directory of PATH (from `environment`) joined with it.
std::vector<std::string> executableCandidates(const std::string& argv0,
                                              const std::vector<std::string>& environment);

}  // namespace nixos_containers
