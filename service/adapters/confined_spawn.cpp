// The confined runner: ForkProcessRunner::spawn, for Run. The command joins
// the container as its own processes are: its namespaces (the user namespace
// too), its root, a cgroup of its own inside the container's payload cgroup,
// its capability bounding set, no_new_privs, and the identity of the user.
#include "fork_process_runner.h"
#include "log.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace nixos_containers {

namespace {

// Joined in this order. A user-namespaced container may share a network
// namespace of the host's user namespace (unitNetworkNamespace), which only
// the host's root may join: net comes before user. The others belong to the
// container's user namespace, mnt last.
constexpr std::pair<const char*, int> kNamespacesBeforeUser[] = {{"net", CLONE_NEWNET}};
constexpr std::pair<const char*, int> kNamespacesAfterUser[] = {
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"pid", CLONE_NEWPID},       {"mnt", CLONE_NEWNS},
};

std::vector<char*> cStrings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

std::string readSmallFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

ContainerError failure(const std::string& message) {
    return ContainerError(ErrorCode::Failed, message);
}

// The leader's capability bounding set, from /proc/PID/status.
std::uint64_t boundingSet(pid_t leader) {
    auto status = readSmallFile("/proc/" + std::to_string(leader) + "/status");
    auto at = status.find("\nCapBnd:");
    if (at == std::string::npos) {
        throw failure("cannot read the capability bounding set of PID " + std::to_string(leader));
    }
    return std::stoull(status.substr(at + 8), nullptr, 16);
}

int lastCapability() {
    auto text = readSmallFile("/proc/sys/kernel/cap_last_cap");
    return text.empty() ? 40 : std::stoi(text);
}

bool isCgroup2(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// The leader's cgroup directory on the unified hierarchy.
std::string leaderCgroup(pid_t leader) {
    std::string mount;
    for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        if (isCgroup2(candidate)) {
            mount = candidate;
            break;
        }
    }
    if (mount.empty()) {
        throw failure("no cgroup2 hierarchy at /sys/fs/cgroup");
    }
    auto text = readSmallFile("/proc/" + std::to_string(leader) + "/cgroup");
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with("0::/")) {
            auto path = line.substr(3);
            if (path.find("/..") != std::string::npos) {
                break;
            }
            return mount + (path == "/" ? "" : path);
        }
    }
    throw failure("cannot find the cgroup of PID " + std::to_string(leader));
}

// nspawn puts the container in UNIT/payload; a container with systemd moves
// its init further down. The command's cgroup is a child of payload.
std::string payloadCgroup(const std::string& leaderDirectory) {
    std::string path = leaderDirectory;
    while (path.size() > 1) {
        auto slash = path.rfind('/');
        if (path.substr(slash + 1) == "payload") {
            return path;
        }
        path.resize(slash);
    }
    return leaderDirectory;
}

void writeCgroupFile(const std::string& directory, const char* file, const char* value) {
    int fd = ::open((directory + "/" + file).c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)!::write(fd, value, std::strlen(value));
        ::close(fd);
    }
}

struct CgroupRemoval {
    std::string path;
    int attempts;
};

void scheduleRemoval(sd_event* event, std::unique_ptr<CgroupRemoval> removal);

// A killed cgroup empties within milliseconds; retried on a timer. The
// timer's source owns the removal until it fires.
int retryRemoval(sd_event_source* source, uint64_t /*usec*/, void* userdata) {
    std::unique_ptr<CgroupRemoval> removal(static_cast<CgroupRemoval*>(userdata));
    if (::rmdir(removal->path.c_str()) == 0 || errno == ENOENT) {
        return 0;
    }
    if (errno == EBUSY && --removal->attempts > 0) {
        scheduleRemoval(sd_event_source_get_event(source), std::move(removal));
        return 0;
    }
    logWarning("cannot remove cgroup " + removal->path + ": " + std::strerror(errno));
    return 0;
}

void scheduleRemoval(sd_event* event, std::unique_ptr<CgroupRemoval> removal) {
    // A floating source: it frees itself once it fired.
    if (sd_event_add_time_relative(event, nullptr, CLOCK_MONOTONIC, 10'000, 0, &retryRemoval, removal.get()) <
        0) {
        logWarning("cannot schedule the removal of cgroup " + removal->path);
        return;
    }
    (void)removal.release();
}

struct ChildPlan {
    int stdio[3];
    int cgroupProcs;
    std::vector<std::pair<int, int>> namespaces;
    int rootFd;
    std::uint64_t bound;
    int lastCap;
    uid_t uid;
    gid_t gid;
    const gid_t* groups;
    std::size_t groupCount;
    const char* workingDirectory;
    char* const* argv;
    char* const* envp;
    std::vector<char*> executables;
    const sigset_t* noSignals;
};

void say(const char* message) {
    (void)!::write(STDERR_FILENO, message, std::strlen(message));
}

[[noreturn]] void setupFailed(const char* what) {
    say("nixos-containers run: cannot ");
    say(what);
    say("\n");
    ::_exit(126);
}

// The steps below run in the child: async-signal-safe calls only.

// The caller's stdio as 0, 1 and 2 (moved above 10 first, so that no dup2
// overwrites a descriptor still to be moved).
void takeStdio(const ChildPlan& plan) {
    int moved[3];
    for (int i = 0; i < 3; ++i) {
        moved[i] = ::fcntl(plan.stdio[i], F_DUPFD_CLOEXEC, 10);
        if (moved[i] < 0) {
            ::_exit(126);
        }
    }
    for (int i = 0; i < 3; ++i) {
        if (::dup2(moved[i], i) < 0) {
            ::_exit(126);
        }
    }
}

void enterContainer(const ChildPlan& plan) {
    if (::write(plan.cgroupProcs, "0", 1) != 1) {
        setupFailed("join the container's cgroup");
    }
    for (const auto& [fd, type] : plan.namespaces) {
        if (::setns(fd, type) != 0) {
            setupFailed("enter the container's namespaces");
        }
    }
    if (::fchdir(plan.rootFd) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0) {
        setupFailed("enter the container's root");
    }
}

// Stays outside the container's PID namespace to report the exit of
// `inner`: a signal is passed on as a signal.
[[noreturn]] void reportExitOf(pid_t inner) {
    ::close(STDIN_FILENO);
    ::close(STDOUT_FILENO);
    ::close(STDERR_FILENO);
    int status = 0;
    while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status)) {
        struct rlimit noCore {};
        ::setrlimit(RLIMIT_CORE, &noCore);
        ::signal(WTERMSIG(status), SIG_DFL);
        ::kill(::getpid(), WTERMSIG(status));
        ::_exit(128 + WTERMSIG(status));
    }
    ::_exit(WEXITSTATUS(status));
}

// The bounding set, the user and groups, no_new_privs and the working directory.
void becomeTheUser(const ChildPlan& plan) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (int cap = 0; cap <= plan.lastCap; ++cap) {
        if ((plan.bound & (std::uint64_t{1} << cap)) == 0 && ::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            setupFailed("drop capabilities");
        }
    }
    if (::setgroups(plan.groupCount, plan.groups) != 0 || ::setresgid(plan.gid, plan.gid, plan.gid) != 0 ||
        ::setresuid(plan.uid, plan.uid, plan.uid) != 0) {
        setupFailed("become the requested user");
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        setupFailed("set no_new_privs");
    }
    if (::chdir(plan.workingDirectory) != 0) {
        setupFailed("change to the working directory");
    }
}

// The first of the candidate executables that runs; 127 when none exists.
[[noreturn]] void execute(const ChildPlan& plan) {
    ::close_range(3, ~0U, 0);
    int error = ENOENT;
    for (char* executable : plan.executables) {
        if (executable == nullptr) {
            break;
        }
        ::execve(executable, plan.argv, plan.envp);
        if (errno != ENOENT && errno != ENOTDIR) {
            error = errno;
        }
    }
    say("nixos-containers run: cannot execute ");
    say(plan.argv[0]);
    say(error == ENOENT ? ": not found\n" : ": permission denied or not executable\n");
    ::_exit(error == ENOENT ? 127 : 126);
}

[[noreturn]] void confinedChild(const ChildPlan& plan) {
    ::sigprocmask(SIG_SETMASK, plan.noSignals, nullptr);
    takeStdio(plan);
    enterContainer(plan);
    pid_t inner = ::fork();
    if (inner < 0) {
        setupFailed("fork");
    }
    if (inner > 0) {
        reportExitOf(inner);
    }
    becomeTheUser(plan);
    execute(plan);
}

// ---------------------------------------------------------------- in the service, before the fork

using NamespaceFds = std::vector<std::pair<UniqueFd, int>>;

// The leader's namespaces, in the order they are joined: its user namespace
// only when it is not the service's. A descriptor that could not be opened
// is negative (errno says why).
NamespaceFds openNamespaces(const std::string& proc) {
    NamespaceFds fds;
    auto open = [&fds, &proc](const char* name, int type) {
        fds.emplace_back(UniqueFd(::open((proc + "/ns/" + name).c_str(), O_RDONLY | O_CLOEXEC)), type);
    };
    for (const auto& [name, type] : kNamespacesBeforeUser) {
        open(name, type);
    }
    struct stat ours {};
    struct stat theirs {};
    if (::stat("/proc/self/ns/user", &ours) == 0 && ::stat((proc + "/ns/user").c_str(), &theirs) == 0 &&
        ours.st_ino != theirs.st_ino) {
        open("user", CLONE_NEWUSER);
    }
    for (const auto& [name, type] : kNamespacesAfterUser) {
        open(name, type);
    }
    return fds;
}

// The cgroup the command joins: its own, under the container's payload, or
// the leader's when that cannot be made.
struct RunCgroup {
    std::string own;  // empty when it joins the leader's
    UniqueFd procs;
};

// Throws ContainerError when the leader left the unit or no cgroup can be joined.
RunCgroup cgroupToJoin(const ConfinedRequest& request, ProcessId id) {
    const auto leader = request.leader;
    auto leaderDirectory = leaderCgroup(leader);
    if (!request.unit.empty() && leaderDirectory.find("/" + request.unit + "/") == std::string::npos) {
        throw failure("PID " + std::to_string(leader) + " is not in the unit " + request.unit + " any more");
    }
    RunCgroup cgroup;
    auto own = payloadCgroup(leaderDirectory) + "/nixos-containers-run-" + std::to_string(::getpid()) + "-" +
               std::to_string(id);
    if (::mkdir(own.c_str(), 0755) == 0) {
        cgroup.procs.reset(::open((own + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
        if (cgroup.procs.get() >= 0) {
            cgroup.own = own;
            return cgroup;
        }
        ::rmdir(own.c_str());
    }
    // The leader's own cgroup still confines it; only the kill is then of
    // the main process alone.
    logWarning("cannot make cgroup " + own + " (" + std::strerror(errno) + "); joining the leader's");
    cgroup.procs.reset(::open((leaderDirectory + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (cgroup.procs.get() < 0) {
        throw failure("cannot open " + leaderDirectory + "/cgroup.procs: " + std::strerror(errno));
    }
    return cgroup;
}

// What confines the command besides the leader's namespaces and root: the
// leader's capability bounding set, and a cgroup. Throws ContainerError.
struct Confinement {
    std::uint64_t bound = 0;
    int lastCap = 0;
    RunCgroup cgroup;
};

Confinement confinementOf(const ConfinedRequest& request, ProcessId id) {
    Confinement confinement;
    confinement.bound = boundingSet(request.leader);
    confinement.lastCap = lastCapability();
    confinement.cgroup = cgroupToJoin(request, id);
    return confinement;
}

// What the child's plan points into, copied from the request and kept in
// place (neither copied nor moved) until the fork.
struct ChildStrings {
    explicit ChildStrings(const ConfinedRequest& request)
        : argvStrings(request.argv),
          envStrings(request.environment),
          executables(request.executables),
          workingDirectory(request.workingDirectory) {
        sigemptyset(&noSignals);
    }
    ChildStrings(const ChildStrings&) = delete;
    ChildStrings& operator=(const ChildStrings&) = delete;

    std::vector<std::string> argvStrings;
    std::vector<std::string> envStrings;
    std::vector<std::string> executables;
    std::string workingDirectory;
    std::vector<char*> argv = cStrings(argvStrings);
    std::vector<char*> envp = cStrings(envStrings);
    sigset_t noSignals{};
};

ChildPlan childPlan(const ConfinedRequest& request, ChildStrings& strings, const NamespaceFds& namespaces,
                    int rootFd, int cgroupProcs, std::uint64_t bound, int lastCap) {
    ChildPlan plan{};
    plan.stdio[0] = request.stdio->in.get();
    plan.stdio[1] = request.stdio->out.get();
    plan.stdio[2] = request.stdio->err.get();
    plan.cgroupProcs = cgroupProcs;
    for (const auto& [fd, type] : namespaces) {
        plan.namespaces.emplace_back(fd.get(), type);
    }
    plan.rootFd = rootFd;
    plan.bound = bound;
    plan.lastCap = lastCap;
    plan.uid = request.identity.uid;
    plan.gid = request.identity.gid;
    plan.groups = request.identity.groups.data();
    plan.groupCount = request.identity.groups.size();
    plan.workingDirectory = strings.workingDirectory.c_str();
    plan.argv = strings.argv.data();
    plan.envp = strings.envp.data();
    plan.executables = cStrings(strings.executables);
    plan.noSignals = &strings.noSignals;
    return plan;
}

}  // namespace

ProcessId ForkProcessRunner::spawn(const ConfinedRequest& request, Callback<ProcessExit> done) {
    const ProcessId id = nextSpawn_++;
    auto fail = [this, &done](const std::string& message) {
        loop_.post([done, message] { done(failure(message)); });
    };
    if (request.argv.empty() || request.executables.empty() || request.leader <= 0 || !request.stdio) {
        fail("nothing to run");
        return id;
    }
    const auto leader = request.leader;
    const auto proc = "/proc/" + std::to_string(leader);
    UniqueFd pidFd(static_cast<int>(::syscall(SYS_pidfd_open, leader, 0)));
    if (pidFd.get() < 0) {
        fail("container init " + std::to_string(leader) + " is gone: " + std::strerror(errno));
        return id;
    }
    const auto namespaceFds = openNamespaces(proc);
    for (const auto& [fd, type] : namespaceFds) {
        if (fd.get() < 0) {
            fail("cannot open the namespaces of PID " + std::to_string(leader) + ": " + std::strerror(errno));
            return id;
        }
    }
    UniqueFd rootFd(::open((proc + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (rootFd.get() < 0) {
        fail("cannot open the root of PID " + std::to_string(leader) + ": " + std::strerror(errno));
        return id;
    }
    Confinement confinement;
    try {
        confinement = confinementOf(request, id);
    } catch (const ContainerError& error) {
        fail(error.what());
        return id;
    }
    const auto& cgroup = confinement.cgroup;
    auto removeCgroup = [&cgroup] {
        if (!cgroup.own.empty()) {
            ::rmdir(cgroup.own.c_str());
        }
    };
    if (::syscall(SYS_pidfd_send_signal, pidFd.get(), 0, nullptr, 0) != 0) {
        removeCgroup();
        fail("container init " + std::to_string(leader) + " exited while being entered");
        return id;
    }

    ChildStrings strings(request);
    const auto plan = childPlan(request, strings, namespaceFds, rootFd.get(), cgroup.procs.get(),
                                confinement.bound, confinement.lastCap);
    pid_t pid = ::fork();
    if (pid < 0) {
        removeCgroup();
        fail(std::string("fork: ") + std::strerror(errno));
        return id;
    }
    if (pid == 0) {
        confinedChild(plan);
    }

    auto spawned = std::make_unique<Spawned>();
    spawned->runner = this;
    spawned->id = id;
    spawned->pid = pid;
    spawned->cgroup = cgroup.own;
    spawned->done = std::move(done);
    sd_event_source* source = nullptr;
    // SIGCHLD is blocked by main(), as sd-event requires.
    if (sd_event_add_child(loop_.get(), &source, pid, WEXITED, &ForkProcessRunner::onSpawnedExit,
                           spawned.get()) < 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        fail("cannot watch the command's process");
        return id;
    }
    spawned->exitSource.reset(source);
    spawned_.emplace(id, std::move(spawned));
    return id;
}

void ForkProcessRunner::kill(ProcessId id) {
    auto found = spawned_.find(id);
    if (found == spawned_.end()) {
        killRun(id);
        return;
    }
    const auto& spawned = *found->second;
    if (!spawned.cgroup.empty()) {
        writeCgroupFile(spawned.cgroup, "cgroup.kill", "1");
    }
    ::kill(spawned.pid, SIGKILL);
}

int ForkProcessRunner::onSpawnedExit(sd_event_source* /*source*/, const siginfo_t* info, void* userdata) {
    auto* spawned = static_cast<Spawned*>(userdata);
    auto* runner = spawned->runner;
    ProcessExit exit;
    if (info->si_code == CLD_EXITED) {
        exit.exitStatus = info->si_status;
    } else {
        exit.signal = info->si_status;
    }
    auto found = runner->spawned_.find(spawned->id);
    if (found == runner->spawned_.end()) {
        return 0;
    }
    auto owned = std::move(found->second);
    runner->spawned_.erase(found);
    if (!owned->cgroup.empty()) {
        // What the command left behind goes with it.
        writeCgroupFile(owned->cgroup, "cgroup.kill", "1");
        if (::rmdir(owned->cgroup.c_str()) != 0 && errno == EBUSY) {
            scheduleRemoval(runner->loop_.get(),
                            std::make_unique<CgroupRemoval>(CgroupRemoval{owned->cgroup, 200}));
        }
    }
    // The source may not be freed from inside its own callback.
    auto* exitSource = owned->exitSource.release();
    sd_event_source_set_enabled(exitSource, SD_EVENT_OFF);
    runner->loop_.post([exitSource] { sd_event_source_unref(exitSource); });
    owned->done(exit);
    return 0;
}

}  // namespace nixos_containers
