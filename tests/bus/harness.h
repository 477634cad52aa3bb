// Process plumbing for the bus tests: temporary directories, children that
// are always reaped, the private dbus-daemon and the service under test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace bus_tests {

using namespace std::chrono_literals;

// Polls `predicate` until it holds or `timeout` passes; the only way the
// tests wait for asynchronous effects (never a fixed sleep).
bool waitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout = 5s);

// A directory under /tmp removed with everything in it on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

struct CommandResult {
    int exitStatus = -1;  // -1: killed or not started
    std::string output;   // stdout and stderr, interleaved
};

// Runs argv to completion (killed after `timeout`), capturing its output.
CommandResult runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 15s);

// What a child does between fork and exec, in the child: namespaces, mounts.
// It must only make async-signal-safe calls; returns false to abort.
using ChildSetup = std::function<bool()>;

// A child process we started and therefore own: terminated and reaped on
// destruction, whatever happened in the test. Never signals anything else.
class ChildProcess {
public:
    ChildProcess() = default;
    // stdout/stderr go to `logFile`; `environment` is the complete environment.
    ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& environment,
                 const std::filesystem::path& logFile, const ChildSetup& setup, int extraOutputFd = -1);
    ~ChildProcess();
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    // True while the child has not exited (reaps it when it has).
    bool running();
    // SIGTERM, then SIGKILL after `grace`; always reaps.
    void stop(std::chrono::milliseconds grace = 3s);

private:
    pid_t pid_ = -1;
};

// A dbus-daemon of our own, in its own mount namespace where /etc/passwd
// and /etc/group also know the test uids: dbus-daemon drops connections of
// uids it cannot resolve, and the tests must not touch the host's files.
class PrivateBus {
public:
    explicit PrivateBus(const std::filesystem::path& directory);
    ~PrivateBus();
    PrivateBus(const PrivateBus&) = delete;
    PrivateBus& operator=(const PrivateBus&) = delete;
    [[nodiscard]] const std::string& address() const { return address_; }

private:
    ChildProcess daemon_;
    std::string address_;
};

// nixos-containersd in fresh network and mount namespaces, so veths and
// netns pins it makes vanish with it and never reach the host.
class ServiceProcess {
public:
    ServiceProcess(const std::filesystem::path& binary, const std::map<std::string, std::string>& environment,
                   const std::filesystem::path& logFile);
    ~ServiceProcess();
    ServiceProcess(const ServiceProcess&) = delete;
    ServiceProcess& operator=(const ServiceProcess&) = delete;
    bool running() { return child_.running(); }
    void stop() { child_.stop(); }
    [[nodiscard]] pid_t pid() const { return child_.pid(); }
    [[nodiscard]] std::string log() const;

private:
    ChildProcess child_;
    std::filesystem::path logFile_;
};

std::string readText(const std::filesystem::path& path);
void writeText(const std::filesystem::path& path, const std::string& text,
               std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                              std::filesystem::perms::owner_write |
                                              std::filesystem::perms::group_read |
                                              std::filesystem::perms::others_read);

// The uids the tests call as; PrivateBus gives them passwd entries.
inline constexpr unsigned kAllowedUid = 61001;
inline constexpr unsigned kDeniedUid = 61002;
inline constexpr unsigned kChallengedUid = 61003;

}  // namespace bus_tests
