#include "fork_process_runner.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace nixos_containers {

namespace {
constexpr std::size_t kMaxLine = 4096;

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept {
        reset(other.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    [[nodiscard]] int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_;
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

// In the child: only async-signal-safe calls from here on.
[[noreturn]] void execChild(int output, char* const* argv, char* const* envp, const sigset_t* noSignals) {
    // The service blocks SIGCHLD, SIGTERM and SIGINT for sd-event; a child
    // must not inherit that.
    ::sigprocmask(SIG_SETMASK, noSignals, nullptr);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) {
        ::dup2(devnull, STDIN_FILENO);
    }
    ::dup2(output, STDOUT_FILENO);
    ::dup2(output, STDERR_FILENO);
    // Only 0, 1 and 2 go to the program: no fd the service opened (on any
    // thread, with or without O_CLOEXEC) leaks into it.
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv, envp);
    static const char message[] = "cannot execute the command\n";
    (void)!::write(STDERR_FILENO, message, sizeof(message) - 1);
    ::_exit(127);
}
}  // namespace

struct ForkProcessRunner::Child {
    ForkProcessRunner* runner = nullptr;
    ProcessId id = 0;
    pid_t pid = -1;
    ProcessId spawned = 0;  // in a container: the spawn() that runs it
    Fd output;
    EventSourcePtr outputSource{nullptr, sd_event_source_unref};
    EventSourcePtr exitSource{nullptr, sd_event_source_unref};
    EventSourcePtr timeoutSource{nullptr, sd_event_source_unref};
    bool timedOut = false;
    std::string partial;
    bool outputClosed = false;
    bool exited = false;
    ProcessExit exit;
    std::optional<ContainerError> failed;  // it never ran
    std::function<void(const std::string&)> onLine;
    Callback<ProcessExit> done;
};

ForkProcessRunner::ForkProcessRunner(EventLoop& loop) : loop_(loop) {}

ForkProcessRunner::~ForkProcessRunner() = default;

ProcessId ForkProcessRunner::run(const ProcessRequest& request,
                                 std::function<void(const std::string&)> onLine, Callback<ProcessExit> done) {
    auto fail = [this, &done](const std::string& message) {
        loop_.post([done, message] { done(ContainerError(ErrorCode::Failed, message)); });
        return ProcessId{0};
    };
    if (request.argv.empty() || request.argv.front().empty() || request.argv.front()[0] != '/') {
        return fail("the command must be an absolute path");
    }
    if (request.namespacesOf) {
        return runInContainer(request, std::move(onLine), std::move(done));
    }
    auto argvStrings = request.argv;
    auto envStrings = request.environment;
    auto argv = cStrings(argvStrings);
    auto envp = cStrings(envStrings);

    sigset_t noSignals;
    sigemptyset(&noSignals);
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        return fail(std::string("pipe: ") + std::strerror(errno));
    }
    Fd readEnd(pipeFds[0]);
    Fd writeEnd(pipeFds[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        return fail(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        execChild(writeEnd.get(), argv.data(), envp.data(), &noSignals);
    }
    writeEnd.reset();

    auto child = std::make_unique<Child>();
    child->runner = this;
    child->id = nextSpawn_++;
    child->pid = pid;
    child->onLine = std::move(onLine);
    child->done = std::move(done);
    watchOutput(*child, readEnd.release());
    watchTimeout(*child, request.timeoutUsec);
    sd_event_source* source = nullptr;
    // SIGCHLD is blocked by main(), as sd-event requires.
    if (sd_event_add_child(loop_.get(), &source, pid, WEXITED, &ForkProcessRunner::onExit, child.get()) < 0) {
        ::waitpid(pid, nullptr, 0);
        child->exited = true;
        child->exit.exitStatus = 127;
    } else {
        child->exitSource.reset(source);
    }
    auto* key = child.get();
    const auto id = key->id;
    children_.emplace(key, std::move(child));
    if (key->exited) {
        loop_.post([this, key] { maybeFinish(key); });
    }
    return id;
}

void ForkProcessRunner::watchTimeout(Child& child, std::uint64_t timeoutUsec) {
    if (timeoutUsec == 0) {
        return;
    }
    sd_event_source* source = nullptr;
    if (sd_event_add_time_relative(loop_.get(), &source, CLOCK_MONOTONIC, timeoutUsec, 0,
                                   &ForkProcessRunner::onTimeout, &child) >= 0) {
        child.timeoutSource.reset(source);
    }
}

int ForkProcessRunner::onTimeout(sd_event_source* /*source*/, uint64_t /*usec*/, void* userdata) {
    auto* child = static_cast<Child*>(userdata);
    child->timedOut = true;
    child->runner->killChild(*child);
    return 0;
}

void ForkProcessRunner::killChild(Child& child) {
    if (child.spawned != 0) {
        kill(child.spawned);
    } else if (!child.exited && child.pid > 0) {
        ::kill(child.pid, SIGKILL);  // not reaped yet: still ours
    }
    if (!child.outputClosed) {
        // The source may be the one running: sd-event frees it later.
        auto* source = child.outputSource.release();
        if (source != nullptr) {
            sd_event_source_set_enabled(source, SD_EVENT_OFF);
            loop_.post([source] { sd_event_source_unref(source); });
        }
        child.output.reset();
        child.outputClosed = true;
        child.partial.clear();
    }
    // Not from inside kill(): `done` never runs within the call that asked.
    loop_.post([this, id = child.id] {
        if (auto* found = childWithId(id)) {
            maybeFinish(found);
        }
    });
}

ForkProcessRunner::Child* ForkProcessRunner::childWithId(ProcessId id) const {
    for (const auto& [key, child] : children_) {
        if (child->id == id) {
            return key;
        }
    }
    return nullptr;
}

bool ForkProcessRunner::killRun(ProcessId id) {
    auto* child = childWithId(id);
    if (child == nullptr) {
        return false;
    }
    killChild(*child);
    return true;
}

void ForkProcessRunner::watchOutput(Child& child, int output) {
    ::fcntl(output, F_SETFL, O_NONBLOCK);
    child.output.reset(output);
    sd_event_source* source = nullptr;
    if (sd_event_add_io(loop_.get(), &source, child.output.get(), EPOLLIN, &ForkProcessRunner::onOutput,
                        &child) >= 0) {
        child.outputSource.reset(source);
    } else {
        child.outputClosed = true;
    }
}

// In the container as its root, confined as spawn() confines Run's commands:
// its user namespace, a cgroup of its own beneath the container's, the
// leader's capability bound, no_new_privs. As the host's root, a command
// from the container's tree (which its root can mount over) would be the
// container's way out.
ProcessId ForkProcessRunner::runInContainer(const ProcessRequest& request,
                                            std::function<void(const std::string&)> onLine,
                                            Callback<ProcessExit> done) {
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        const std::string message = std::string("pipe: ") + std::strerror(errno);
        loop_.post([done, message] { done(ContainerError(ErrorCode::Failed, message)); });
        return 0;
    }
    Fd readEnd(pipeFds[0]);
    auto stdio = std::make_shared<StdioFds>();
    stdio->out.reset(pipeFds[1]);
    stdio->err.reset(::fcntl(pipeFds[1], F_DUPFD_CLOEXEC, 0));
    stdio->in.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));

    auto child = std::make_unique<Child>();
    child->runner = this;
    child->id = nextSpawn_++;
    child->onLine = std::move(onLine);
    child->done = std::move(done);
    watchOutput(*child, readEnd.release());
    auto* key = child.get();
    const auto id = key->id;
    children_.emplace(key, std::move(child));

    ConfinedRequest confined;
    confined.argv = request.argv;
    confined.executables = {request.argv.front()};
    confined.environment = request.environment;
    confined.leader = *request.namespacesOf;  // identity: uid 0 of the container
    confined.stdio = stdio;
    if (stdio->in.get() < 0 || stdio->err.get() < 0) {
        confined.stdio = nullptr;  // spawn() answers "nothing to run"
    }
    key->spawned = spawn(confined, [this, key](const Outcome<ProcessExit>& exit) {
        key->exited = true;
        if (exit.ok()) {
            key->exit = exit.value();
        } else {
            key->failed = exit.error();
        }
        maybeFinish(key);
    });
    watchTimeout(*key, request.timeoutUsec);
    // The child has its copies; the read end sees EOF once it is gone.
    stdio->close();
    return id;
}

int ForkProcessRunner::onOutput(sd_event_source* /*source*/, int fd, uint32_t /*events*/, void* userdata) {
    auto* child = static_cast<Child*>(userdata);
    char buffer[4096];
    for (;;) {
        auto count = ::read(fd, buffer, sizeof(buffer));
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count < 0 && errno == EAGAIN) {
            return 0;
        }
        if (count <= 0) {
            break;
        }
        child->partial.append(buffer, static_cast<std::size_t>(count));
        std::size_t newline;
        while ((newline = child->partial.find('\n')) != std::string::npos) {
            child->onLine(child->partial.substr(0, newline));
            child->partial.erase(0, newline + 1);
        }
        if (child->partial.size() > kMaxLine) {
            child->onLine(child->partial);
            child->partial.clear();
        }
    }
    if (!child->partial.empty()) {
        child->onLine(child->partial);
        child->partial.clear();
    }
    child->outputClosed = true;
    child->outputSource.reset();
    child->runner->maybeFinish(child);
    return 0;
}

int ForkProcessRunner::onExit(sd_event_source* /*source*/, const siginfo_t* info, void* userdata) {
    auto* child = static_cast<Child*>(userdata);
    child->exited = true;
    if (info->si_code == CLD_EXITED) {
        child->exit.exitStatus = info->si_status;
    } else {
        child->exit.signal = info->si_status;
    }
    child->runner->maybeFinish(child);
    return 0;
}

void ForkProcessRunner::maybeFinish(Child* child) {
    // Both: the last line may come after the exit is seen, or the other way round.
    if (!child->exited || !child->outputClosed) {
        return;
    }
    auto found = children_.find(child);
    if (found == children_.end()) {
        return;
    }
    auto owned = std::move(found->second);
    children_.erase(found);
    // The source may not be freed from inside its own callback: let the loop do it.
    for (auto* source : {owned->exitSource.release(), owned->timeoutSource.release()}) {
        if (source != nullptr) {
            sd_event_source_set_enabled(source, SD_EVENT_OFF);
            loop_.post([source] { sd_event_source_unref(source); });
        }
    }
    if (owned->failed) {
        owned->done(*owned->failed);
        return;
    }
    owned->exit.timedOut = owned->timedOut;
    owned->done(owned->exit);
}

}  // namespace nixos_containers
