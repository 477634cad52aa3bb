#include "permissions.h"

#include "run_command.h"

#include <cstddef>
#include <memory>
#include <utility>
#include <variant>

namespace nixos_containers {

std::vector<PermissionQuestion> permissionQuestions(bool forNewContainer) {
    std::vector<PermissionQuestion> questions;
    for (const auto& row : verbTable()) {
        // Create makes a container; every other row acts on one.
        if (std::holds_alternative<CreateBody>(row.body) != forNewContainer) {
            continue;
        }
        questions.push_back({methodOfVerb(row.policy.name), row.policy, {}, row.entersContainer});
    }
    if (forNewContainer) {
        return questions;
    }
    for (const auto& call : kContainerCalls) {
        PermissionQuestion question{std::string(call.method), call.policy, {}, call.entersContainer};
        if (call.namesUserAndCommand) {
            question.details = {{"user", "root"}, {"command", ""}};
        }
        questions.push_back(std::move(question));
    }
    return questions;
}

namespace {

std::string_view wordOf(const Outcome<Authorization>& answer) {
    if (!answer.ok()) {
        return kPermissionUnknown;
    }
    switch (answer.value()) {
        case Authorization::Allowed:
            return kPermissionYes;
        case Authorization::ChallengeRequired:
            return kPermissionChallenge;
        case Authorization::Denied:
            break;
    }
    return kPermissionNo;
}

bool overLimit(const Outcome<Authorization>& answer) {
    return !answer.ok() && answer.error().code() == ErrorCode::LimitsExceeded;
}

// One GetPermissions call: its questions, asked one after the other so that
// a call holds one of the caller's pending checks at a time.
struct PermissionWalk {
    AuthorizationGate& gate;
    const ContainerRegistry& registry;
    Caller caller;
    std::string name;
    std::vector<PermissionQuestion> questions;
    std::size_t next = 0;
    std::map<std::string, std::string> answers;
    Callback<std::map<std::string, std::string>> done;
};
using WalkPtr = std::shared_ptr<PermissionWalk>;

void askNext(const WalkPtr& walk);

void answered(const WalkPtr& walk, const Outcome<Authorization>& answer) {
    if (overLimit(answer)) {
        walk->done(answer.error());
        return;
    }
    walk->answers[walk->questions[walk->next].method] = std::string(wordOf(answer));
    ++walk->next;
    askNext(walk);
}

void askNext(const WalkPtr& walk) {
    if (walk->next == walk->questions.size()) {
        walk->done(std::move(walk->answers));
        return;
    }
    const auto& question = walk->questions[walk->next];
    walk->gate.ask(
        walk->caller, std::string(question.policy.action), walk->name, std::string(question.policy.name),
        [walk](const Outcome<Authorization>& answer) {
            const auto& asked = walk->questions[walk->next];
            // As authorizeEntry: an entry into a container that runs with the
            // host's users is host access too, asked when the first allows.
            const auto* container = walk->registry.find(walk->name);
            if (!asked.entersContainer || !answer.ok() || answer.value() != Authorization::Allowed ||
                container == nullptr || !entryReachesHost(*container)) {
                answered(walk, answer);
                return;
            }
            auto hostDetails = asked.details;
            hostDetails["keys"] = kEntryHostKey;
            walk->gate.ask(
                walk->caller, std::string(kHostAccessAction), walk->name, std::string(asked.policy.name),
                [walk](const Outcome<Authorization>& hostAccess) { answered(walk, hostAccess); },
                hostDetails);
        },
        question.details);
}

}  // namespace

void askPermissions(AuthorizationGate& gate, const ContainerRegistry& registry, const Caller& caller,
                    const std::string& name, Callback<std::map<std::string, std::string>> done) {
    if (!name.empty()) {
        try {
            (void)registry.get(name);  // NoSuchContainer, InvalidArgument
        } catch (const ContainerError& error) {
            done(error);
            return;
        }
    }
    Caller quiet = caller;
    quiet.allowInteractive = false;  // a question, never a prompt: CheckAuthorization flags 0
    auto walk = std::make_shared<PermissionWalk>(PermissionWalk{
        gate, registry, quiet, name, permissionQuestions(name.empty()), 0, {}, std::move(done)});
    askNext(walk);
}

}  // namespace nixos_containers
