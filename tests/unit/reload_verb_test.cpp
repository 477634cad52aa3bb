// Reload: switch-to-configuration test, inside the running container.
#include "manager_fixture.h"

#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

using ReloadVerbTest = ContainerManagerTest;

TEST_F(ReloadVerbTest, RunsSwitchToConfigurationInTheLeadersNamespaces) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    auto reloaded = perform(Verb::Reload, "web", root);
    ASSERT_TRUE(reloaded.ok()) << reloaded.error().what();
    ASSERT_EQ(processes.requests.size(), 1U);
    const auto& request = processes.requests[0];
    EXPECT_EQ(request.argv,
              (std::vector<std::string>{"/nix/store/abc-system/bin/switch-to-configuration", "test"}));
    ASSERT_TRUE(request.namespacesOf.has_value());
    EXPECT_EQ(*request.namespacesOf, 4242);
}

TEST_F(ReloadVerbTest, AStoppedContainerIsNotRunningAndAFailedSwitchIsNamed) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    EXPECT_EQ(perform(Verb::Reload, "web", root).error().code(), ErrorCode::NotRunning);
    EXPECT_TRUE(processes.requests.empty());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    processes.exitStatus = 1;
    auto reloaded = perform(Verb::Reload, "web", root);
    ASSERT_FALSE(reloaded.ok());
    EXPECT_EQ(reloaded.error().code(), ErrorCode::ReloadFailed);
    EXPECT_NE(std::string(reloaded.error().what()).find("exited with status 1"), std::string::npos)
        << reloaded.error().what();
}

// Issue 25, item 2: Reload runs switch-to-configuration as the container's
// root, the host's when it has no user namespace.
TEST_F(ReloadVerbTest, AReloadOfAContainerWithoutAUserNamespaceNeedsHostAccess) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());  // root's: PrivateUsers "no"
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    authorizer.actionAnswers["org.nixos.containers.manage"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::ChallengeRequired;
    auto refused = perform(Verb::Reload, "web", user);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::InteractiveAuthorizationRequired);
    EXPECT_NE(std::string(refused.error().what()).find("host-access (reload 'web' with PrivateUsers)"),
              std::string::npos)
        << refused.error().what();
    EXPECT_TRUE(processes.requests.empty());
    // The verbs that do not enter need no more than before.
    EXPECT_TRUE(perform(Verb::Stop, "web", user).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Allowed;
    EXPECT_TRUE(perform(Verb::Reload, "web", user).ok());
    EXPECT_EQ(processes.requests.size(), 1U);
}

TEST_F(ReloadVerbTest, AReloadOfAUserNamespacedContainerNeedsOnlyManage) {
    auto spec = systemSpec();
    spec.privateUsers = "pick";
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    authorizer.actionAnswers["org.nixos.containers.manage"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Denied;
    EXPECT_TRUE(perform(Verb::Reload, "web", user).ok());
    EXPECT_EQ(authorizer.checks.size(), 1U);
}

}  // namespace
}  // namespace nixos_containers
