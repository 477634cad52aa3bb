// Delegation's two tiers: the plain actions authorise a confined container;
// a spec that asks for the host (SpecKey::asksHost) also needs
// org.nixos.containers.host-access, naming the keys. As a delegated user is
// granted them: every plain action by a rule, host-access not.
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class HostAccessTest : public ContainerManagerTest {
protected:
    void SetUp() override {
        ContainerManagerTest::SetUp();
        authorizer.answers[user.uid] = Authorization::Allowed;  // every plain action
        authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::ChallengeRequired;
    }
    std::vector<std::string> actionsAsked() const {
        std::vector<std::string> actions;
        for (const auto& check : authorizer.checks) {
            actions.push_back(check.first);
        }
        return actions;
    }
};

TEST_F(HostAccessTest, AConfinedCreateNeedsOnlyThePlainAction) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    spec.tmpfs = {"/var/cache"};
    ASSERT_TRUE(create("web", spec, user).ok());
    EXPECT_EQ(actionsAsked(), std::vector<std::string>{"org.nixos.containers.create"});
}

TEST_F(HostAccessTest, ACreateThatAsksForTheHostNeedsHostAccessNamingTheKeysAndLeavesNothing) {
    auto spec = systemSpec();
    spec.bindMounts = {{"/host", "/", false}};
    spec.additionalCapabilities = {"CAP_SYS_MODULE"};
    auto refused = create("web", spec, user);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::InteractiveAuthorizationRequired);
    EXPECT_THAT(refused.error().what(), HasSubstr("org.nixos.containers.host-access"));
    EXPECT_THAT(refused.error().what(), HasSubstr("BindMounts,AdditionalCapabilities"));
    ASSERT_EQ(authorizer.checks.size(), 2U);
    EXPECT_EQ(authorizer.checks[1].first, "org.nixos.containers.host-access");
    EXPECT_EQ(authorizer.checks[1].second.at("keys"), "BindMounts,AdditionalCapabilities");
    EXPECT_EQ(authorizer.checks[1].second.at("verb"), "create");
    EXPECT_EQ(authorizer.checks[1].second.at("container"), "web");
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_EQ(manager().containers().count("web"), 0U);
    // Granted host access, the same user gets it.
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Allowed;
    EXPECT_TRUE(create("web", spec, user).ok());
}

TEST_F(HostAccessTest, AnUpdateThatAddsHostAccessNeedsItAndChangesNothingWithout) {
    ASSERT_TRUE(create("web", systemSpec(), user).ok());
    SpecPatch bind;
    bind.set("BindMounts", [](ContainerSpec& spec) { spec.bindMounts = {{"/host", "/", false}}; });
    auto refused = update("web", bind, user);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::InteractiveAuthorizationRequired);
    EXPECT_EQ(authorizer.checks.back().second.at("keys"), "BindMounts");
    EXPECT_EQ(authorizer.checks.back().second.at("verb"), "update");
    EXPECT_TRUE(manager().get("web").spec.bindMounts.empty());
    // A confined change to the same container needs only update.
    SpecPatch autoStart;
    autoStart.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    const auto before = authorizer.checks.size();
    EXPECT_TRUE(update("web", autoStart, user).ok());
    ASSERT_EQ(authorizer.checks.size(), before + 1);
    EXPECT_EQ(authorizer.checks.back().first, "org.nixos.containers.update");
}

TEST_F(HostAccessTest, TheCreatorOwnsTheContainerAcrossUpdatesAndRestarts) {
    ASSERT_TRUE(create("mine", systemSpec(), user).ok());
    ASSERT_TRUE(create("roots", systemSpec(), root).ok());
    EXPECT_EQ(manager().get("mine").owner, user.uid);
    EXPECT_EQ(manager().get("roots").owner, 0U);
    SpecPatch patch;
    patch.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    ASSERT_TRUE(update("mine", patch, user).ok());
    manager_.reset();  // the service restarts: the owner comes from the conf
    EXPECT_EQ(manager().get("mine").owner, user.uid);
    authorizer.checks.clear();
    ASSERT_TRUE(perform(Verb::Start, "mine", user).ok());
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].second.at("owner_uid"), std::to_string(user.uid));
}

TEST_F(HostAccessTest, AUserOwnsAtMostTheCapOfContainersRootIsNotCapped) {
    settings.maxContainersPerUser = 2;
    ASSERT_TRUE(create("one", systemSpec(), user).ok());
    ASSERT_TRUE(create("two", systemSpec(), user).ok());
    auto third = create("three", systemSpec(), user);
    ASSERT_FALSE(third.ok());
    EXPECT_EQ(third.error().code(), ErrorCode::LimitsExceeded);
    EXPECT_THAT(third.error().what(), HasSubstr("uid 61001 owns 2 containers"));
    EXPECT_FALSE(fs::exists(settings.configDir / "three.conf"));
    EXPECT_TRUE(create("three", systemSpec(), root).ok());
    // Two Creates in flight count before either is on disk.
    ASSERT_TRUE(perform(Verb::Destroy, "two", user).ok());
    std::vector<Outcome<std::string>> racing;
    for (const auto* name : {"four", "five"}) {
        manager().create(user, name, systemSpec(),
                         [&racing](Outcome<std::string> answer) { racing.push_back(std::move(answer)); });
    }
    loop.drain();
    ASSERT_EQ(racing.size(), 2U);
    EXPECT_NE(racing[0].ok(), racing[1].ok());
}

TEST_F(HostAccessTest, SecretsAreForRootTheOwnerAndWhoeverMayUpdate) {
    ASSERT_TRUE(create("mine", systemSpec(), user).ok());
    auto sees = [this](const Caller& caller) {
        std::optional<Outcome<bool>> answer;
        manager().seesSecrets(caller, "mine", [&](Outcome<bool> result) { answer = std::move(result); });
        loop.drain();
        return answer.value_or(Outcome<bool>(ContainerError(ErrorCode::Failed, "no answer"))).value();
    };
    EXPECT_TRUE(sees(root));
    EXPECT_TRUE(sees(user));  // the owner, without polkit
    authorizer.checks.clear();
    Caller other;
    other.uid = 61005;
    other.allowInteractive = true;
    EXPECT_FALSE(sees(other));
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.update");
    EXPECT_EQ(authorizer.checks[0].second.at("verb"), "inspect");
    authorizer.answers[other.uid] = Authorization::Allowed;
    EXPECT_TRUE(sees(other));
    std::optional<Outcome<bool>> missing;
    manager().seesSecrets(root, "nothing", [&](Outcome<bool> result) { missing = std::move(result); });
    loop.drain();
    ASSERT_TRUE(missing.has_value());
    EXPECT_EQ(missing->error().code(), ErrorCode::NoSuchContainer);
}

// Confined means user-namespaced: a user's container runs in a range nspawn
// picks; no namespace, the host's uids or a chosen range are host access.
TEST_F(HostAccessTest, AUsersContainerRunsInAPickedUserNamespace) {
    ASSERT_TRUE(create("mine", systemSpec(), user).ok());
    EXPECT_EQ(manager().get("mine").spec.privateUsers, "pick");
    EXPECT_EQ(actionsAsked(), std::vector<std::string>{"org.nixos.containers.create"});
    ASSERT_TRUE(create("roots", systemSpec(), root).ok());
    EXPECT_EQ(manager().get("roots").spec.privateUsers, "no");  // the module's default
    for (const std::string mode : {"identity", "65536"}) {
        SCOPED_TRACE(mode);
        authorizer.checks.clear();
        auto spec = systemSpec();
        spec.privateUsers = mode;
        auto refused = create("other", spec, user);
        ASSERT_FALSE(refused.ok());
        EXPECT_THAT(refused.error().what(), HasSubstr("with PrivateUsers"));
    }
    SpecPatch patch;
    patch.set("PrivateUsers", [](ContainerSpec& spec) { spec.privateUsers = "no"; });
    auto updated = update("mine", patch, user);
    ASSERT_FALSE(updated.ok());
    EXPECT_THAT(updated.error().what(), HasSubstr("(update 'mine' with PrivateUsers)"));
    EXPECT_EQ(manager().get("mine").spec.privateUsers, "pick");

    // A private network is user-namespaced too, and leaving it asks nothing
    // more. Ports forwarded from it need "no", which is host access.
    auto networked = systemSpec();
    networked.privateNetwork = true;
    authorizer.checks.clear();
    ASSERT_TRUE(create("net", networked, user).ok());
    EXPECT_EQ(manager().get("net").spec.privateUsers, "pick");
    EXPECT_EQ(actionsAsked(), std::vector<std::string>{"org.nixos.containers.create"});
    SpecPatch leave;
    leave.set("PrivateNetwork", [](ContainerSpec& spec) {
        spec.privateNetwork = false;
        spec.network = {};  // its pool addresses go with it
    });
    authorizer.checks.clear();
    ASSERT_TRUE(update("net", leave, user).ok());
    EXPECT_EQ(actionsAsked(), std::vector<std::string>{"org.nixos.containers.update"});

    auto forwarded = networked;
    forwarded.forwardPorts = {{"tcp", 8080, 80}};
    auto unsupported = create("ports", forwarded, user);
    ASSERT_FALSE(unsupported.ok());
    EXPECT_EQ(unsupported.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(unsupported.error().what(), HasSubstr("PrivateUsers 'pick' with ForwardPorts"));
    forwarded.privateUsers = "no";
    authorizer.checks.clear();
    auto asked = create("ports", forwarded, user);
    ASSERT_FALSE(asked.ok());
    EXPECT_THAT(asked.error().what(), HasSubstr("with PrivateUsers"));
    EXPECT_EQ(manager().containers().count("ports"), 0U);
}

// A pool address is the caller's own only while no other container holds
// it; root's containers may share, as the module lets them.
TEST_F(HostAccessTest, AUserCannotTakeAnotherContainersAddresses) {
    auto networked = systemSpec();
    networked.privateNetwork = true;
    ASSERT_TRUE(create("first", networked, root).ok());
    const auto taken = manager().get("first").spec.network.localAddress;
    ASSERT_FALSE(taken.empty());
    auto thief = networked;
    thief.network.hostAddress = "10.233.200.1";
    thief.network.localAddress = taken;
    auto refused = create("thief", thief, user);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(refused.error().what(),
                HasSubstr("LocalAddress " + taken + " is already the LocalAddress of container 'first'"));
    EXPECT_EQ(manager().containers().count("thief"), 0U);

    // Nor by an Update, as host or local address.
    ASSERT_TRUE(create("mine", networked, user).ok());
    SpecPatch patch;
    patch.set("HostAddress", [taken](ContainerSpec& spec) { spec.network.hostAddress = taken; });
    auto updated = update("mine", patch, user);
    ASSERT_FALSE(updated.ok());
    EXPECT_EQ(updated.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(updated.error().what(), HasSubstr("HostAddress " + taken + " is already the LocalAddress"));
    EXPECT_NE(manager().get("mine").spec.network.hostAddress, taken);

    EXPECT_TRUE(create("shared", thief, root).ok());
}

TEST_F(HostAccessTest, RootNeedsNoPolkitAtAll) {
    auto spec = systemSpec();
    spec.bindMounts = {{"/host", "/", false}};
    EXPECT_TRUE(create("web", spec, root).ok());
    EXPECT_TRUE(authorizer.checks.empty());
}

}  // namespace
}  // namespace nixos_containers
