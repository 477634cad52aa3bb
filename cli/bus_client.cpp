#include "bus_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace nixos_containers::cli {

namespace {

// sd-bus's 25 s default suits no verb here: a Start waits for the
// container's READY, a Create for its build. A day stands for "no limit".
constexpr std::uint64_t kCallTimeoutUsec = 24ULL * 3600 * 1000 * 1000;

// sdbus-c++ 1.2 cannot set ALLOW_INTERACTIVE_AUTHORIZATION on a call; its
// messages are sd-bus messages, reached here through the protected member.
struct MessageAccess : sdbus::Message {
    static void* sdbus::Message::*handle() { return &MessageAccess::msg_; }
};

void allowInteractive(const sdbus::MethodCall& call) {
    auto* message = static_cast<sd_bus_message*>(call.*MessageAccess::handle());
    (void)sd_bus_message_set_allow_interactive_authorization(message, 1);
}

// The proxy the generated code calls through: every call may ask polkit's
// agent, and waits as long as the verb takes.
class PolicyProxy final : public sdbus::IProxy {
public:
    PolicyProxy(std::unique_ptr<sdbus::IProxy> inner, bool interactive)
        : inner_(std::move(inner)), interactive_(interactive) {}

    sdbus::MethodCall createMethodCall(const std::string& interfaceName,
                                       const std::string& methodName) override {
        auto call = inner_->createMethodCall(interfaceName, methodName);
        if (interactive_) {
            allowInteractive(call);
        }
        return call;
    }
    sdbus::MethodReply callMethod(const sdbus::MethodCall& message, uint64_t timeout) override {
        return inner_->callMethod(message, timeout == 0 ? kCallTimeoutUsec : timeout);
    }
    sdbus::PendingAsyncCall callMethod(const sdbus::MethodCall& message, sdbus::async_reply_handler handler,
                                       uint64_t timeout) override {
        return inner_->callMethod(message, std::move(handler), timeout == 0 ? kCallTimeoutUsec : timeout);
    }
    void registerSignalHandler(const std::string& interfaceName, const std::string& signalName,
                               sdbus::signal_handler handler) override {
        inner_->registerSignalHandler(interfaceName, signalName, std::move(handler));
    }
    void unregisterSignalHandler(const std::string& interfaceName, const std::string& signalName) override {
        inner_->unregisterSignalHandler(interfaceName, signalName);
    }
    void finishRegistration() override { inner_->finishRegistration(); }
    void unregister() override { inner_->unregister(); }
    sdbus::IConnection& getConnection() const override { return inner_->getConnection(); }
    const std::string& getObjectPath() const override { return inner_->getObjectPath(); }
    const sdbus::Message* getCurrentlyProcessedMessage() const override {
        return inner_->getCurrentlyProcessedMessage();
    }

private:
    std::unique_ptr<sdbus::IProxy> inner_;
    bool interactive_;
};

}  // namespace

int exitCodeOf(const std::string& errorName) {
    static const std::map<std::string, int> kCodes = {
        {"org.nixos.Containers.Error.NoSuchContainer", kExitNoSuchContainer},
        {"org.freedesktop.DBus.Error.AccessDenied", kExitDenied},
        {"org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", kExitDenied},
        {"org.nixos.Containers.Error.InvalidArgument", kExitInvalid},
        {"org.nixos.Containers.Error.AlreadyExists", kExitInvalid},
        {"org.nixos.Containers.Error.Declarative", kExitInvalid},
        {"org.nixos.Containers.Error.Busy", kExitBusy},
        {"org.nixos.Containers.Error.LimitsExceeded", kExitBusy},
        {"org.nixos.Containers.Error.NotRunning", kExitNotRunning},
        {"org.nixos.Containers.Error.NoSystemBus", kExitNotRunning},
        {"org.freedesktop.DBus.Error.ServiceUnknown", kExitUnreachable},
        {"org.freedesktop.DBus.Error.NameHasNoOwner", kExitUnreachable},
        {"org.freedesktop.DBus.Error.NoServer", kExitUnreachable},
        {"org.freedesktop.DBus.Error.FileNotFound", kExitUnreachable},
    };
    auto found = kCodes.find(errorName);
    return found == kCodes.end() ? kExitFailed : found->second;
}

namespace {

bool serviceAbsent(const std::string& errorName) {
    return errorName == "org.freedesktop.DBus.Error.ServiceUnknown" ||
           errorName == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
           errorName == "org.freedesktop.DBus.Error.NoServer";
}

// dbus-daemon's answer when activating the service failed: its own spawn
// errors, or systemd's when it was asked to start the unit.
bool activationFailed(const std::string& errorName) {
    return errorName.starts_with("org.freedesktop.DBus.Error.Spawn.") ||
           errorName.starts_with("org.freedesktop.systemd1.");
}

// The service's refusal names the action; its advice is for API callers.
std::string withoutApiAdvice(std::string message) {
    for (const char* advice : {"; call with interactive authorization allowed",
                               ", and no polkit authentication agent was there to ask"}) {
        if (auto at = message.find(advice); at != std::string::npos) {
            message.erase(at);
        }
    }
    return message;
}

}  // namespace

CliError cliErrorOf(const std::string& errorName, const std::string& message) {
    if (serviceAbsent(errorName) || activationFailed(errorName)) {
        return CliError{
            kExitUnreachable,
            std::string("the nixos-containers service is not running") +
                (activationFailed(errorName) ? " and could not be started (" + message + ")" : "") +
                "; start it as root with 'systemctl start nixos-containers' (see 'systemctl status "
                "nixos-containers' and its journal if it fails)"};
    }
    if (errorName == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired") {
        return CliError{
            kExitDenied,
            withoutApiAdvice(message) +
                ", and no password could be asked for: run nixos-container at a terminal, without "
                "--no-ask-password, to be asked for it, or ask an administrator to allow this"};
    }
    return CliError{exitCodeOf(errorName), message.empty() ? errorName : message};
}

BusClient::BusClient(const ConnectOptions& options) : options_(options) {}

void BusClient::connect() {
    if (connection_) {
        return;
    }
    try {
        connection_ = options_.host.empty() ? sdbus::createSystemBusConnection()
                                            : sdbus::createRemoteSystemBusConnection(options_.host);
    } catch (const sdbus::Error& error) {
        throw CliError{kExitUnreachable,
                       "cannot connect to the system bus" +
                           (options_.host.empty() ? std::string() : " of " + options_.host) + ": " +
                           error.getMessage()};
    }
    managerProxy_ = objectProxy(kManagerPath);
    manager_ = std::make_unique<ManagerClient>(*managerProxy_);
    managerProxy_->finishRegistration();
}

BusClient::~BusClient() {
    manager_.reset();
    managerProxy_.reset();
    if (agent_ > 0) {
        ::kill(agent_, SIGTERM);
        int status = 0;
        while (::waitpid(agent_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

std::unique_ptr<sdbus::IProxy> BusClient::objectProxy(const std::string& path) {
    connect();
    return std::make_unique<PolicyProxy>(sdbus::createProxy(*connection_, kBusName, path),
                                         options_.askPassword);
}

void BusClient::startAgentIfUseful() {
    if (agent_ > 0 || !options_.askPassword || !options_.host.empty() || ::isatty(STDIN_FILENO) != 1 ||
        ::access("/usr/bin/pkttyagent", X_OK) != 0) {
        return;
    }
    int ready[2] = {-1, -1};
    if (::pipe2(ready, O_CLOEXEC) != 0) {
        return;
    }
    // For this process, as pkexec does: polkit maps the service's subject
    // (our bus name) to this process and finds the agent. Not --fallback
    // (systemctl's way, for a session agent): polkit consults a fallback
    // agent only for callers in a logind session.
    const auto self = std::to_string(::getpid());
    const pid_t child = ::fork();
    if (child == 0) {
        // The agent's end must survive exec; it closes it once registered.
        ::fcntl(ready[1], F_SETFD, 0);
        const auto notify = std::to_string(ready[1]);
        ::execl("/usr/bin/pkttyagent", "pkttyagent", "--notify-fd", notify.c_str(), "--process", self.c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(ready[1]);
    if (child > 0) {
        agent_ = child;
        // Until the agent is registered (it closes its end), or 5 s.
        pollfd wait{ready[0], POLLIN, 0};
        while (::poll(&wait, 1, 5000) < 0 && errno == EINTR) {
        }
    }
    ::close(ready[0]);
}

}  // namespace nixos_containers::cli
