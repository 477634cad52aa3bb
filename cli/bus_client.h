#pragma once

// The CLI's side of the bus: a connection to org.nixos.Containers on this
// host or another one (-H, over SSH, as busctl -H), the generated proxies,
// polkit's text agent, and the service's errors as exit codes.
#include "container_proxy.h"
#include "manager_proxy.h"

#include <sdbus-c++/sdbus-c++.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace nixos_containers::cli {

inline constexpr const char* kBusName = "org.nixos.Containers";
inline constexpr const char* kManagerPath = "/org/nixos/Containers";

// Exit codes, one per class of error (documented in --help and the man page).
enum ExitCode : int {
    kExitOk = 0,
    kExitFailed = 1,           // any other failure (the service's message says which)
    kExitUsage = 2,            // bad command line
    kExitNoSuchContainer = 3,  // NoSuchContainer
    kExitDenied = 4,           // AccessDenied, InteractiveAuthorizationRequired
    kExitInvalid = 5,          // InvalidArgument, AlreadyExists, Declarative
    kExitBusy = 6,             // Busy, LimitsExceeded
    kExitNotRunning = 7,       // NotRunning, NoSystemBus
    kExitUnreachable = 8,      // no service: cannot connect, or it is not on the bus
};

// The exit code of a D-Bus error name.
int exitCodeOf(const std::string& errorName);

// A failure the CLI reports as one line and an exit code.
struct CliError {
    int code;
    std::string message;
};

// A D-Bus error as the CLI reports it: its exit code, and a message saying
// what a user can do where the bus's own words would not (the service not
// running, a password polkit could not ask for).
CliError cliErrorOf(const std::string& errorName, const std::string& message);
inline CliError cliErrorOf(const sdbus::Error& error) {
    return cliErrorOf(error.getName(), error.getMessage());
}

// The manager's proxy: the generated methods, with every call allowed to
// ask for interactive authorization (unless --no-ask-password) and without
// sd-bus's 25 s default timeout (a Start or a build takes what it takes).
// BuildOutput lines go to `onBuildLine`.
class ManagerClient final : public org::nixos::Containers_proxy {
public:
    ManagerClient(sdbus::IProxy& proxy) : Containers_proxy(proxy) {}  // NOLINT(google-explicit-constructor)
    std::function<void(const std::string& name, const std::string& line)> onBuildLine;
    std::function<void(const std::string& name, bool added)> onContainerChange;

private:
    void onContainerNew(const std::string& name, const sdbus::ObjectPath&) override {
        if (onContainerChange) {
            onContainerChange(name, true);
        }
    }
    void onContainerRemoved(const std::string& name, const sdbus::ObjectPath&) override {
        if (onContainerChange) {
            onContainerChange(name, false);
        }
    }
    void onBuildOutput(const std::string& name, const std::string& line) override {
        if (onBuildLine) {
            onBuildLine(name, line);
        }
    }
};

struct ConnectOptions {
    std::string host;  // -H [USER@]HOST; empty: this machine
    bool askPassword = true;
};

class BusClient {
public:
    explicit BusClient(const ConnectOptions& options);
    ~BusClient();
    BusClient(const BusClient&) = delete;
    BusClient& operator=(const BusClient&) = delete;

    // The first use connects: a bad command line fails before any bus is touched.
    ManagerClient& manager() {
        connect();
        return *manager_;
    }
    sdbus::IConnection& connection() {
        connect();
        return *connection_;
    }
    // A proxy for the object at `path` (for properties and their changes),
    // with the same call policy as the manager's.
    std::unique_ptr<sdbus::IProxy> objectProxy(const std::string& path);
    // Starts pkttyagent for this process before a call polkit may want to
    // ask about (stdin a terminal, no -H, no --no-ask-password), as
    // systemctl and pkexec do. Idempotent.
    void startAgentIfUseful();
    // pkttyagent runs, and may ask for a password on this terminal.
    [[nodiscard]] bool agentRunning() const { return agent_ > 0; }

private:
    void connect();

    ConnectOptions options_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IProxy> managerProxy_;
    std::unique_ptr<ManagerClient> manager_;
    pid_t agent_ = -1;
};

// Runs `call`, turning a D-Bus error into CliError (its message, its class).
template <typename Call>
auto onBus(Call&& call) -> decltype(call()) {
    try {
        return call();
    } catch (const sdbus::Error& error) {
        throw cliErrorOf(error);
    }
}

}  // namespace nixos_containers::cli
