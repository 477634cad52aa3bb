#include "polkit_authorizer.h"

#include "log.h"

#include <chrono>
#include <string_view>

namespace nixos_containers {

namespace {
constexpr std::uint32_t kAllowUserInteraction = 1;

// The errors that say polkitd is not there to ask, rather than that it
// refused: not on the bus, not activatable (by dbus-daemon, or by systemd
// for it: its unit masked, missing or failing), or gone while asked. A
// timeout is not one: an interactive check waits for a person, who may not
// answer.
bool polkitAbsent(const sdbus::Error& error) {
    const std::string_view name = error.getName();
    return name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
           name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
           name == "org.freedesktop.DBus.Error.NoReply" ||
           name.starts_with("org.freedesktop.DBus.Error.Spawn.") ||
           name.starts_with("org.freedesktop.systemd1.");
}
}  // namespace

PolkitAuthorizer::PolkitAuthorizer(sdbus::IConnection& connection)
    : authority_(sdbus::createProxy(connection, "org.freedesktop.PolicyKit1",
                                    "/org/freedesktop/PolicyKit1/Authority")) {
    authority_->finishRegistration();
}

void PolkitAuthorizer::check(const Caller& caller, const std::string& actionId,
                             const std::map<std::string, std::string>& details,
                             Callback<Authorization> done) {
    using Subject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
    Subject subject("system-bus-name",
                    std::map<std::string, sdbus::Variant>{{"name", sdbus::Variant(caller.busName)}});
    std::uint32_t flags = caller.allowInteractive ? kAllowUserInteraction : 0;
    // A person may be typing a password: give an interactive check time.
    auto timeout = caller.allowInteractive ? std::chrono::minutes(5) : std::chrono::minutes(1);
    authority_->callMethodAsync("CheckAuthorization")
        .onInterface("org.freedesktop.PolicyKit1.Authority")
        .withTimeout(timeout)
        .withArguments(subject, actionId, details, flags, std::string())
        .uponReplyInvoke([this, done = std::move(done)](
                             const sdbus::Error* error,
                             const sdbus::Struct<bool, bool, std::map<std::string, std::string>>& result) {
            noteAnswer(error);
            if (error != nullptr) {
                done(ContainerError(ErrorCode::AccessDenied,
                                    "polkit: " + error->getMessage() + " (" + error->getName() + ")"));
                return;
            }
            if (result.get<0>()) {
                done(Authorization::Allowed);
            } else if (result.get<1>()) {
                done(Authorization::ChallengeRequired);
            } else {
                done(Authorization::Denied);
            }
        });
}

void PolkitAuthorizer::noteAnswer(const sdbus::Error* error) {
    if (error == nullptr) {
        absenceLogged_ = false;  // back: a later outage is news again
        return;
    }
    if (!polkitAbsent(*error) || absenceLogged_) {
        return;
    }
    absenceLogged_ = true;
    logWarning("polkitd is not running (" + error->getName() + ": " + error->getMessage() +
               "): every caller but root is denied until it is back; start it with "
               "'systemctl start polkit.service'");
}

}  // namespace nixos_containers
