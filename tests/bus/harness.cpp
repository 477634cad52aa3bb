#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bus_tests {

namespace fs = std::filesystem;

bool waitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (predicate()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return predicate();
        }
        std::this_thread::sleep_for(10ms);
    }
}

TempDir::TempDir() {
    std::string pattern = "/tmp/nixos-containers-bus-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    }
    path_ = pattern;
    // The socket of the private bus lives here and unprivileged callers must reach it.
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
}

TempDir::~TempDir() {
    std::error_code error;
    fs::remove_all(path_, error);
}

std::string readText(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void writeText(const fs::path& path, const std::string& text, fs::perms perms) {
    fs::create_directories(path.parent_path());
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) {
            throw std::runtime_error("cannot write " + path.string());
        }
    }
    fs::permissions(path, perms);
}

namespace {

// NULL-terminated char* arrays built before fork: the child may not allocate.
class CStrings {
public:
    explicit CStrings(const std::vector<std::string>& strings) : strings_(strings) {
        for (auto& string : strings_) {
            pointers_.push_back(string.data());
        }
        pointers_.push_back(nullptr);
    }
    char** get() { return pointers_.data(); }

private:
    std::vector<std::string> strings_;
    std::vector<char*> pointers_;
};

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                           const fs::path& logFile, const ChildSetup& setup, int extraOutputFd) {
    CStrings args(argv);
    CStrings env(environment);
    int log = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        throw std::runtime_error("cannot open " + logFile.string() + ": " + std::strerror(errno));
    }
    pid_ = ::fork();
    if (pid_ < 0) {
        ::close(log);
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid_ == 0) {
        // Dies with the test process even if that is killed: nothing leaks.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
        if (extraOutputFd >= 0) {
            ::dup2(extraOutputFd, 3);
        }
        // The test binary blocks no signals, but be sure the child starts clean.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (setup && !setup()) {
            ::_exit(126);
        }
        ::execve(args.get()[0], args.get(), env.get());
        ::_exit(127);
    }
    ::close(log);
}

ChildProcess::~ChildProcess() {
    stop();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_) {
    other.pid_ = -1;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        stop();
        pid_ = other.pid_;
        other.pid_ = -1;
    }
    return *this;
}

bool ChildProcess::running() {
    if (pid_ <= 0) {
        return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
    }
    return true;
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
    if (!running()) {
        return;
    }
    ::kill(pid_, SIGTERM);
    if (!waitUntil([this] { return !running(); }, grace)) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    CStrings args(argv);
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::dup2(pipeFds[1], STDOUT_FILENO);
        ::dup2(pipeFds[1], STDERR_FILENO);
        ::execvp(args.get()[0], args.get());
        ::_exit(127);
    }
    ::close(pipeFds[1]);
    CommandResult result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timedOut = false;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timedOut = true;
            break;
        }
        pollfd pfd{pipeFds[0], POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
            break;
        }
        char buffer[4096];
        auto count = ::read(pipeFds[0], buffer, sizeof(buffer));
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count <= 0) {
            break;
        }
        result.output.append(buffer, static_cast<std::size_t>(count));
    }
    ::close(pipeFds[0]);
    if (timedOut) {
        ::kill(pid, SIGKILL);
        result.output += "\n[killed after timeout]";
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exitStatus = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// ------------------------------------------------------------ PrivateBus

namespace {

// XML comments may not contain two dashes, so this config has none.
std::string busConfig(const fs::path& directory) {
    return R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:dir=)" +
           directory.string() + R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
)";
}

std::string withTestUsers(const std::string& hostFile, const std::string& format) {
    std::string text = readText(hostFile);
    if (!text.empty() && text.back() != '\n') {
        text += '\n';
    }
    for (unsigned uid : {kAllowedUid, kDeniedUid, kChallengedUid}) {
        std::string line = format;
        for (auto at = line.find("UID"); at != std::string::npos; at = line.find("UID")) {
            line.replace(at, 3, std::to_string(uid));
        }
        text += line + "\n";
    }
    return text;
}

}  // namespace

PrivateBus::PrivateBus(const fs::path& directory) {
    const auto config = directory / "bus.conf";
    const auto passwd = directory / "passwd";
    const auto group = directory / "group";
    writeText(config, busConfig(directory));
    writeText(passwd, withTestUsers("/etc/passwd", "bustest-UID:x:UID:UID::/nonexistent:/usr/sbin/nologin"));
    writeText(group, withTestUsers("/etc/group", "bustest-UID:x:UID:"));

    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    // The strings the child's setup uses exist before the fork.
    const std::string passwdPath = passwd.string();
    const std::string groupPath = group.string();
    auto setup = [&passwdPath, &groupPath]() {
        return ::unshare(CLONE_NEWNS) == 0 &&
               ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
               ::mount(passwdPath.c_str(), "/etc/passwd", nullptr, MS_BIND, nullptr) == 0 &&
               ::mount(groupPath.c_str(), "/etc/group", nullptr, MS_BIND, nullptr) == 0;
    };
    daemon_ = ChildProcess(
        {"/usr/bin/dbus-daemon", "--config-file=" + config.string(), "--nofork", "--print-address=3"},
        {"PATH=/usr/bin:/bin"}, directory / "dbus-daemon.log", setup, pipeFds[1]);
    ::close(pipeFds[1]);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (address_.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        pollfd pfd{pipeFds[0], POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        char buffer[512];
        auto count = ::read(pipeFds[0], buffer, sizeof(buffer));
        if (count <= 0) {
            break;
        }
        address_.append(buffer, static_cast<std::size_t>(count));
    }
    ::close(pipeFds[0]);
    if (auto newline = address_.find('\n'); newline != std::string::npos) {
        address_.resize(newline);
    } else {
        throw std::runtime_error("dbus-daemon printed no address: " +
                                 readText(directory / "dbus-daemon.log"));
    }
}

PrivateBus::~PrivateBus() {
    daemon_.stop();
}

// ------------------------------------------------------------ ServiceProcess

ServiceProcess::ServiceProcess(const fs::path& binary, const std::map<std::string, std::string>& environment,
                               const fs::path& logFile)
    : logFile_(logFile) {
    std::vector<std::string> env;
    for (const auto& [key, value] : environment) {
        env.push_back(key + "=" + value);
    }
    auto setup = []() {
        return ::unshare(CLONE_NEWNET | CLONE_NEWNS) == 0 &&
               ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    };
    child_ = ChildProcess({binary.string()}, env, logFile, setup);
}

ServiceProcess::~ServiceProcess() {
    child_.stop();
}

std::string ServiceProcess::log() const {
    return readText(logFile_);
}

}  // namespace bus_tests
