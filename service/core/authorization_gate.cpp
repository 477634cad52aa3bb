#include "authorization_gate.h"

#include <utility>

namespace nixos_containers {

namespace {
Status answerFor(const Outcome<Authorization>& answer, const std::string& who, const std::string& what) {
    if (!answer.ok()) {
        return ContainerError(ErrorCode::AccessDenied,
                              "cannot check authorization of " + what + ": " + answer.error().what());
    }
    switch (answer.value()) {
        case Authorization::Allowed:
            return Done{};
        case Authorization::ChallengeRequired:
            return ContainerError(
                ErrorCode::InteractiveAuthorizationRequired,
                who + " must authenticate for " + what + "; call with interactive authorization allowed");
        case Authorization::Denied:
            break;
    }
    return ContainerError(ErrorCode::AccessDenied, who + " is not authorized for " + what);
}
}  // namespace

void AuthorizationGate::authorize(const Caller& caller, const std::string& actionId,
                                  const std::string& container, const std::string& verb, StatusCallback done,
                                  const std::map<std::string, std::string>& extra) {
    // As systemd does: root needs no polkit, and the service itself neither.
    if (caller.internal || caller.uid == 0) {
        done(Done{});
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
    authorizer_.check(caller, actionId, details,
                      [this, uid = caller.uid,
                       what = actionId + " (" + verb + " '" + container + "'" +
                              (extra.contains("keys") ? " with " + extra.at("keys") : std::string()) + ")",
                       done = std::move(done)](const Outcome<Authorization>& answer) {
                          if (--pending_[uid] == 0) {
                              pending_.erase(uid);
                          }
                          done(answerFor(answer, "uid " + std::to_string(uid), what));
                      });
}

}  // namespace nixos_containers
