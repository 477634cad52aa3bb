#include "fork_process_runner.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace nixos_containers {

namespace {
constexpr std::size_t kMaxLine = 4096;

// Namespaces in the order nsenter enters them; mnt last but one, so /proc
// of the leader stays reachable while the others are joined.
constexpr std::pair<const char*, int> kNamespaces[] = {
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},       {"pid", CLONE_NEWPID}, {"mnt", CLONE_NEWNS},
};

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
[[noreturn]] void execChild(int output, const std::vector<std::pair<int, int>>& namespaces, int rootFd,
                            char* const* argv, char* const* envp, const sigset_t* noSignals) {
    // The service blocks SIGCHLD, SIGTERM and SIGINT for sd-event; a child
    // must not inherit that.
    ::sigprocmask(SIG_SETMASK, noSignals, nullptr);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) {
        ::dup2(devnull, STDIN_FILENO);
    }
    ::dup2(output, STDOUT_FILENO);
    ::dup2(output, STDERR_FILENO);
    for (const auto& [fd, type] : namespaces) {
        if (::setns(fd, type) != 0) {
            static const char message[] = "cannot enter the container's namespaces\n";
            (void)!::write(STDERR_FILENO, message, sizeof(message) - 1);
            ::_exit(126);
        }
    }
    if (rootFd >= 0) {
        if (::fchdir(rootFd) != 0 || ::chroot(".") != 0 || ::chdir("/") != 0) {
            ::_exit(126);
        }
        // Joining a PID namespace applies to children only: fork once more so
        // the command itself lives in the container's PID namespace.
        pid_t inner = ::fork();
        if (inner < 0) {
            ::_exit(126);
        }
        if (inner > 0) {
            int status = 0;
            while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
            }
            ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
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
    pid_t pid = -1;
    Fd output;
    EventSourcePtr outputSource{nullptr, sd_event_source_unref};
    EventSourcePtr exitSource{nullptr, sd_event_source_unref};
    std::string partial;
    bool outputClosed = false;
    bool exited = false;
    ProcessExit exit;
    std::function<void(const std::string&)> onLine;
    Callback<ProcessExit> done;
};

ForkProcessRunner::ForkProcessRunner(EventLoop& loop) : loop_(loop) {}

ForkProcessRunner::~ForkProcessRunner() = default;

void ForkProcessRunner::run(const ProcessRequest& request, std::function<void(const std::string&)> onLine,
                            Callback<ProcessExit> done) {
    auto fail = [this, &done](const std::string& message) {
        loop_.post([done, message] { done(ContainerError(ErrorCode::Failed, message)); });
    };
    if (request.argv.empty() || request.argv.front().empty() || request.argv.front()[0] != '/') {
        fail("the command must be an absolute path");
        return;
    }
    // Everything the child needs is made before fork.
    std::vector<std::pair<Fd, int>> namespaceFds;
    Fd rootFd;
    Fd pidFd;
    if (request.namespacesOf) {
        // Pinned first, checked after the namespaces are open: if the PID was
        // reused in between, the pidfd says the process we meant is gone.
        pidFd.reset(static_cast<int>(::syscall(SYS_pidfd_open, *request.namespacesOf, 0)));
        if (pidFd.get() < 0) {
            fail("container init " + std::to_string(*request.namespacesOf) +
                 " is gone: " + std::strerror(errno));
            return;
        }
        const auto proc = "/proc/" + std::to_string(*request.namespacesOf);
        for (const auto& [name, type] : kNamespaces) {
            Fd fd(::open((proc + "/ns/" + name).c_str(), O_RDONLY | O_CLOEXEC));
            if (fd.get() < 0) {
                fail("cannot open the namespaces of PID " + std::to_string(*request.namespacesOf) + ": " +
                     std::strerror(errno));
                return;
            }
            namespaceFds.emplace_back(std::move(fd), type);
        }
        rootFd.reset(::open((proc + "/root").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (rootFd.get() < 0) {
            fail("cannot open the root of PID " + std::to_string(*request.namespacesOf) + ": " +
                 std::strerror(errno));
            return;
        }
    }
    if (pidFd.get() >= 0 && ::syscall(SYS_pidfd_send_signal, pidFd.get(), 0, nullptr, 0) != 0) {
        fail("container init " + std::to_string(*request.namespacesOf) + " exited while being entered");
        return;
    }
    std::vector<std::pair<int, int>> namespaces;
    for (const auto& [fd, type] : namespaceFds) {
        namespaces.emplace_back(fd.get(), type);
    }
    auto argvStrings = request.argv;
    auto envStrings = request.environment;
    auto argv = cStrings(argvStrings);
    auto envp = cStrings(envStrings);

    sigset_t noSignals;
    sigemptyset(&noSignals);
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        fail(std::string("pipe: ") + std::strerror(errno));
        return;
    }
    Fd readEnd(pipeFds[0]);
    Fd writeEnd(pipeFds[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        fail(std::string("fork: ") + std::strerror(errno));
        return;
    }
    if (pid == 0) {
        execChild(writeEnd.get(), namespaces, rootFd.get(), argv.data(), envp.data(), &noSignals);
    }
    writeEnd.reset();
    ::fcntl(readEnd.get(), F_SETFL, O_NONBLOCK);

    auto child = std::make_unique<Child>();
    child->runner = this;
    child->pid = pid;
    child->output = std::move(readEnd);
    child->onLine = std::move(onLine);
    child->done = std::move(done);
    sd_event_source* source = nullptr;
    if (sd_event_add_io(loop_.get(), &source, child->output.get(), EPOLLIN, &ForkProcessRunner::onOutput,
                        child.get()) >= 0) {
        child->outputSource.reset(source);
    } else {
        child->outputClosed = true;
    }
    // SIGCHLD is blocked by main(), as sd-event requires.
    if (sd_event_add_child(loop_.get(), &source, pid, WEXITED, &ForkProcessRunner::onExit, child.get()) < 0) {
        ::waitpid(pid, nullptr, 0);
        child->exited = true;
        child->exit.exitStatus = 127;
    } else {
        child->exitSource.reset(source);
    }
    auto* key = child.get();
    children_.emplace(key, std::move(child));
    if (key->exited) {
        loop_.post([this, key] { maybeFinish(key); });
    }
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
    auto* exitSource = owned->exitSource.release();
    if (exitSource != nullptr) {
        sd_event_source_set_enabled(exitSource, SD_EVENT_OFF);
        loop_.post([exitSource] { sd_event_source_unref(exitSource); });
    }
    owned->done(owned->exit);
}

}  // namespace nixos_containers
