#include "authorization_gate.h"

#include <pwd.h>

#include <memory>
#include <utility>
#include <vector>

namespace nixos_containers {

namespace {
// polkit rules see the subject's user name, not its uid: the owner detail
// is a name, so `action.lookup("owner") == subject.user` works. A uid
// without a name (a deleted user) is given as its number.
std::string userName(std::uint32_t uid) {
    std::vector<char> buffer(16384);
    passwd entry{};
    passwd* found = nullptr;
    if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
        return found->pw_name;
    }
    return std::to_string(uid);
}

Status answerFor(const Outcome<Authorization>& answer, const std::string& who, const std::string& what,
                 bool interactionAllowed) {
    if (!answer.ok()) {
        return ContainerError(ErrorCode::AccessDenied,
                              "cannot check authorization of " + what + ": " + answer.error().what());
    }
    switch (answer.value()) {
        case Authorization::Allowed:
            return Done{};
        case Authorization::ChallengeRequired:
            // polkit answers a challenge to a call that allowed interaction
            // only when no agent of the caller's could ask: the flag would not help.
            return ContainerError(
                ErrorCode::InteractiveAuthorizationRequired,
                who + " must authenticate for " + what +
                    (interactionAllowed ? ", and no polkit authentication agent was there to ask"
                                        : "; call with interactive authorization allowed"));
        case Authorization::Denied:
            break;
    }
    return ContainerError(ErrorCode::AccessDenied, who + " is not authorized for " + what);
}
}  // namespace

void AuthorizationGate::authorize(const Caller& caller, const std::string& actionId,
                                  const std::string& container, const std::string& verb, StatusCallback done,
                                  const std::map<std::string, std::string>& extra) {
    check(caller, actionId, container, ownerOf_(container).value_or(caller.uid), verb, std::move(done),
          extra);
}

void AuthorizationGate::authorizeHostWide(const Caller& caller, const std::string& actionId,
                                          const std::string& verb, StatusCallback done) {
    check(caller, actionId, "", 0, verb, std::move(done), {});
}

void AuthorizationGate::ask(const Caller& caller, const std::string& actionId, const std::string& container,
                            const std::string& verb, Callback<Authorization> done,
                            const std::map<std::string, std::string>& extra) {
    query(caller, actionId, container, ownerOf_(container).value_or(caller.uid), verb, std::move(done),
          extra);
}

void AuthorizationGate::check(const Caller& caller, const std::string& actionId, const std::string& container,
                              std::uint32_t owner, const std::string& verb, StatusCallback done,
                              const std::map<std::string, std::string>& extra) {
    const auto what = actionId + " (" + verb + " '" + container + "'" +
                      (extra.contains("keys") ? " with " + extra.at("keys") : std::string()) + ")";
    query(
        caller, actionId, container, owner, verb,
        [who = "uid " + std::to_string(caller.uid), what, interactive = caller.allowInteractive,
         done = std::move(done)](const Outcome<Authorization>& answer) {
            if (!answer.ok() && answer.error().code() == ErrorCode::LimitsExceeded) {
                done(answer.error());
                return;
            }
            done(answerFor(answer, who, what, interactive));
        },
        extra);
}

void AuthorizationGate::query(const Caller& caller, const std::string& actionId, const std::string& container,
                              std::uint32_t owner, const std::string& verb, Callback<Authorization> done,
                              const std::map<std::string, std::string>& extra) {
    // As systemd does: root needs no polkit, and the service itself neither.
    if (caller.internal || caller.uid == 0) {
        done(Authorization::Allowed);
        return;
    }
    auto& pending = pending_[caller.uid];
    if (pending >= kMaxPendingPerCaller) {
        done(ContainerError(ErrorCode::LimitsExceeded, "uid " + std::to_string(caller.uid) + " has " +
                                                           std::to_string(pending) +
                                                           " authorizations pending; try again later"));
        return;
    }
    ++pending;
    std::map<std::string, std::string> details = extra;
    details["container"] = container;
    details["verb"] = verb;
    details["owner_uid"] = std::to_string(owner);
    auto ownerName = std::make_shared<std::string>();
    worker_.run([owner, ownerName] { *ownerName = userName(owner); },
                [this, caller, actionId, details = std::move(details), ownerName,
                 done = std::move(done)](const Status& /*looked up; a failure leaves the number*/) mutable {
                    details["owner"] = ownerName->empty() ? details.at("owner_uid") : *ownerName;
                    authorizer_.check(caller, actionId, details,
                                      [this, uid = caller.uid,
                                       done = std::move(done)](const Outcome<Authorization>& answer) {
                                          if (--pending_[uid] == 0) {
                                              pending_.erase(uid);
                                          }
                                          done(answer);
                                      });
                });
}

}  // namespace nixos_containers
