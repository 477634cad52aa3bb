// GetPermissions (permissions.cpp): each verb's and call's own question to
// polkit, without interaction, over the fake authorizer.
#include "permissions.h"
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>

namespace nixos_containers {
namespace {

using Permissions = std::map<std::string, std::string>;

class PermissionsTest : public ContainerManagerTest {
protected:
    Outcome<Permissions> ask(const std::string& name, const Caller& caller) {
        std::optional<Outcome<Permissions>> answer;
        int answers = 0;
        manager().permissions(caller, name, [&](Outcome<Permissions> result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Outcome<Permissions>(ContainerError(ErrorCode::Failed, "no answer")));
    }

    // A container of root's that `user` asks about, with the container's
    // users its own ("pick"), so that entries ask no host access.
    void createConfined() {
        auto spec = systemSpec();
        spec.privateUsers = "pick";
        ASSERT_TRUE(create("web", spec, root).ok());
    }
};

// The keys are the table's: every verb row but Create's, by method, and the
// calls into a container; not a list of their own.
TEST_F(PermissionsTest, KeysAreTheVerbTablesMethodsAndTheCallsIntoAContainer) {
    createConfined();
    std::set<std::string> expected;
    for (const auto& row : verbTable()) {
        if (row.verb != Verb::Create) {
            expected.insert(methodOfVerb(row.policy.name));
        }
    }
    for (const auto& call : kContainerCalls) {
        expected.insert(std::string(call.method));
    }
    auto answer = ask("web", user);
    ASSERT_TRUE(answer.ok()) << answer.error().what();
    std::set<std::string> keys;
    for (const auto& [key, value] : answer.value()) {
        keys.insert(key);
    }
    EXPECT_EQ(keys, expected);
    for (const auto* method : {"Start", "Stop", "Restart", "Terminate", "Reload", "Rollback", "Update",
                               "Destroy", "Run", "OpenShell", "OpenLogin", "OpenLogs", "SwitchGeneration"}) {
        EXPECT_TRUE(keys.contains(method)) << method;
    }
    EXPECT_FALSE(keys.contains("Create"));
}

TEST_F(PermissionsTest, EachAnswerIsPolkitsWithoutInteraction) {
    createConfined();
    authorizer.answers[user.uid] = Authorization::Denied;
    authorizer.actionAnswers["org.nixos.containers.manage"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.destroy"] = Authorization::ChallengeRequired;
    authorizer.actionFailures["org.nixos.containers.logs"] = "polkit did not answer";
    user.allowInteractive = true;  // the question never prompts, whatever the caller allows
    auto answer = ask("web", user);
    ASSERT_TRUE(answer.ok()) << answer.error().what();
    const auto& rights = answer.value();
    EXPECT_EQ(rights.at("Start"), "yes");
    EXPECT_EQ(rights.at("Reload"), "yes");
    EXPECT_EQ(rights.at("Destroy"), "challenge");
    EXPECT_EQ(rights.at("Update"), "no");
    EXPECT_EQ(rights.at("SwitchGeneration"), "no");
    EXPECT_EQ(rights.at("OpenLogs"), "unknown");
    EXPECT_EQ(authorizer.checks.size(), rights.size());  // one question each, none to host access
    EXPECT_THAT(authorizer.interactive, ::testing::Each(false));
    EXPECT_EQ(manager().get("web").operation, "");  // a question takes nothing
}

// Each question is the one the verb itself sends: its action and details.
TEST_F(PermissionsTest, EachQuestionIsTheVerbsOwn) {
    createConfined();
    authorizer.answers[user.uid] = Authorization::Denied;
    ASSERT_TRUE(ask("web", user).ok());
    std::map<std::string, std::map<std::string, std::string>> asked;  // by verb detail
    std::map<std::string, std::string> actions;
    for (const auto& [action, details] : authorizer.checks) {
        asked[details.at("verb")] = details;
        actions[details.at("verb")] = action;
    }
    for (const auto& row : verbTable()) {
        if (row.verb == Verb::Create) {
            continue;
        }
        const std::string verb(row.policy.name);
        ASSERT_TRUE(asked.contains(verb)) << verb;
        EXPECT_EQ(actions[verb], row.policy.action) << verb;
        EXPECT_EQ(asked[verb].at("container"), "web");
        EXPECT_EQ(asked[verb].at("owner"), "root");
    }
    EXPECT_EQ(actions["switch-generation"], "org.nixos.containers.update");
    EXPECT_EQ(asked["run"].at("user"), "root");
    EXPECT_EQ(asked["run"].at("command"), "");
    EXPECT_EQ(asked["shell"].at("user"), "root");
    EXPECT_EQ(actions["logs"], "org.nixos.containers.logs");

    // What Start itself asks, compared whole.
    authorizer.checks.clear();
    (void)perform(Verb::Start, "web", user);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].second, asked["start"]);
}

// An entry into a container that runs with the host's users is host access
// too, as authorizeEntry asks it.
TEST_F(PermissionsTest, AnEntryIntoAContainerWithTheHostsUsersNeedsHostAccessToo) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());  // root's: PrivateUsers "no"
    authorizer.answers[user.uid] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Denied;
    auto answer = ask("web", user);
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(answer.value().at("Start"), "yes");
    EXPECT_EQ(answer.value().at("Reload"), "no");
    EXPECT_EQ(answer.value().at("Run"), "no");
    EXPECT_EQ(answer.value().at("OpenShell"), "no");
    EXPECT_EQ(answer.value().at("OpenLogin"), "no");
    EXPECT_EQ(answer.value().at("OpenLogs"), "yes");
    // Host access asked as authorizeEntry asks it, once for each entry.
    std::set<std::string> entries;
    for (const auto& [action, details] : authorizer.checks) {
        if (action == "org.nixos.containers.host-access") {
            EXPECT_EQ(details.at("keys"), "PrivateUsers");
            entries.insert(details.at("verb"));
        }
    }
    EXPECT_EQ(entries, (std::set<std::string>{"reload", "run", "shell", "login"}));
}

TEST_F(PermissionsTest, RootMayDoEverything) {
    createConfined();
    auto answer = ask("web", root);
    ASSERT_TRUE(answer.ok());
    for (const auto& [method, value] : answer.value()) {
        EXPECT_EQ(value, "yes") << method;
    }
    EXPECT_TRUE(authorizer.checks.empty());
}

TEST_F(PermissionsTest, NoNameAsksCreateAlone) {
    authorizer.answers[user.uid] = Authorization::ChallengeRequired;
    auto answer = ask("", user);
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(answer.value(), (Permissions{{"Create", "challenge"}}));
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.create");
    EXPECT_EQ(authorizer.checks[0].second.at("owner_uid"), std::to_string(user.uid));
}

TEST_F(PermissionsTest, AnUnknownOrBadNameIsRefusedWithoutAQuestion) {
    auto unknown = ask("nosuch", user);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code(), ErrorCode::NoSuchContainer);
    auto bad = ask("../etc", user);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty());
}

// The gate's bound on a caller's pending checks holds: a caller whose
// polkit never answers cannot pile questions up.
TEST_F(PermissionsTest, TheGatesBoundOnPendingChecksHolds) {
    createConfined();
    authorizer.hold = true;
    int answered = 0;
    std::optional<ErrorCode> refused;
    for (int call = 0; call < 17; ++call) {
        manager().permissions(user, "web", [&](const Outcome<Permissions>& result) {
            ++answered;
            if (!result.ok()) {
                refused = result.error().code();
            }
        });
    }
    loop.drain();
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(*refused, ErrorCode::LimitsExceeded);
    EXPECT_EQ(answered, 1);
    // The held ones answer once polkit does, each exactly once.
    while (!authorizer.held.empty()) {
        auto held = std::move(authorizer.held);
        authorizer.held.clear();
        for (auto& answer : held) {
            answer();
        }
        loop.drain();
    }
    EXPECT_EQ(answered, 17);
}

}  // namespace
}  // namespace nixos_containers
