#include "authorization_gate.h"
#include "fake_seams.h"

#include <gtest/gtest.h>

#include <optional>

namespace nixos_containers {
namespace {

struct AuthorizationGateTest : ::testing::Test {
    Status ask(const Caller& caller) {
        std::optional<Status> answer;
        gate.authorize(caller, "org.nixos.containers.manage", "web", "start",
                       [&](Status status) { answer = std::move(status); });
        loop.drain();
        return answer.value_or(Status(ContainerError(ErrorCode::Failed, "no answer")));
    }
    Deferred loop;
    FakeAuthorizer authorizer{loop};
    FakeWorker worker{loop};
    // "web" is root's; nothing else exists.
    AuthorizationGate gate{authorizer, worker, [](const std::string& name) -> std::optional<std::uint32_t> {
                               return name == "web" ? std::optional<std::uint32_t>(0) : std::nullopt;
                           }};
};

TEST_F(AuthorizationGateTest, RootAndTheServiceItselfPassWithoutPolkit) {
    Caller root;
    Caller service;
    service.uid = 61001;
    service.internal = true;
    EXPECT_TRUE(ask(root).ok());
    EXPECT_TRUE(ask(service).ok());
    EXPECT_TRUE(authorizer.checks.empty());
}

TEST_F(AuthorizationGateTest, AsksForTheActionWithContainerAndVerbAndNamesTheAnswer) {
    Caller user;
    user.uid = 61001;
    authorizer.answers[user.uid] = Authorization::Allowed;
    EXPECT_TRUE(ask(user).ok());
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.manage");
    EXPECT_EQ(authorizer.checks[0].second,
              (std::map<std::string, std::string>{
                  {"container", "web"}, {"verb", "start"}, {"owner", "root"}, {"owner_uid", "0"}}));

    authorizer.answers[user.uid] = Authorization::ChallengeRequired;
    EXPECT_EQ(ask(user).error().code(), ErrorCode::InteractiveAuthorizationRequired);
    authorizer.answers[user.uid] = Authorization::Denied;
    auto denied = ask(user);
    EXPECT_EQ(denied.error().code(), ErrorCode::AccessDenied);
    EXPECT_EQ(std::string(denied.error().what()),
              "uid 61001 is not authorized for org.nixos.containers.manage (start 'web')");
}

TEST_F(AuthorizationGateTest, AChallengeMentionsTheInteractiveFlagOnlyWhenTheCallLackedIt) {
    Caller user;
    user.uid = 61003;
    authorizer.answers[user.uid] = Authorization::ChallengeRequired;
    const std::string what = "uid 61003 must authenticate for org.nixos.containers.manage (start 'web')";
    EXPECT_EQ(std::string(ask(user).error().what()), what + "; call with interactive authorization allowed");
    user.allowInteractive = true;
    EXPECT_EQ(std::string(ask(user).error().what()),
              what + ", and no polkit authentication agent was there to ask");
}

TEST_F(AuthorizationGateTest, TheOwnersNameIsLookedUpOffTheLoopBeforePolkitIsAsked) {
    Caller user;
    user.uid = 61001;
    worker.hold = true;
    std::optional<Status> answer;
    gate.authorize(user, "org.nixos.containers.manage", "web", "start",
                   [&](Status status) { answer = std::move(status); });
    loop.drain();
    EXPECT_TRUE(authorizer.checks.empty());  // NSS has not answered yet
    EXPECT_FALSE(answer.has_value());
    ASSERT_EQ(worker.held.size(), 1U);
    worker.runHeld();
    loop.drain();
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].second.at("owner"), "root");
    ASSERT_TRUE(answer.has_value());
}

TEST_F(AuthorizationGateTest, TheOwnerOfAContainerToBeCreatedIsTheCaller) {
    Caller user;
    user.uid = 61001;
    gate.authorize(user, "org.nixos.containers.create", "new", "create", [](const Status&) {});
    loop.drain();
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].second.at("owner_uid"), "61001");
}

TEST_F(AuthorizationGateTest, ACallerCannotPileUpChecks) {
    Caller user;
    user.uid = 61001;
    authorizer.hold = true;
    int limited = 0;
    for (int i = 0; i < 17; ++i) {
        gate.authorize(user, "org.nixos.containers.manage", "web", "start", [&](const Status& status) {
            limited += !status.ok() && status.error().code() == ErrorCode::LimitsExceeded ? 1 : 0;
        });
    }
    loop.drain();
    EXPECT_EQ(authorizer.held.size(), 16U);
    EXPECT_EQ(limited, 1);
}

}  // namespace
}  // namespace nixos_containers
