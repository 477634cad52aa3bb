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

// Issue 25, item 5: the container's switch-to-configuration may never end.
TEST_F(ReloadVerbTest, AReloadThatNeverEndsTimesOut) {
    settings.reloadTimeoutSec = 7;
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    processes.timeOutRuns = true;
    auto reloaded = perform(Verb::Reload, "web", root);
    ASSERT_EQ(processes.requests.size(), 1U);
    EXPECT_EQ(processes.requests[0].timeoutUsec, 7'000'000U);
    ASSERT_FALSE(reloaded.ok());
    EXPECT_EQ(reloaded.error().code(), ErrorCode::ReloadFailed);
    EXPECT_NE(std::string(reloaded.error().what()).find("timed out after 7 s"), std::string::npos)
        << reloaded.error().what();
    // The container is free again.
    EXPECT_TRUE(perform(Verb::Stop, "web", root).ok());
}

class ReloadCancelTest : public ContainerManagerTest, public ::testing::WithParamInterface<Verb> {};

TEST_P(ReloadCancelTest, AStopOrTerminateKillsARunningReloadWhichAnswersOnceThenTheStopRuns) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    processes.holdRuns = true;
    std::vector<std::string> answers;
    std::optional<Status> reload;
    std::optional<Status> stop;
    manager().perform(root, Verb::Reload, "web", [&](Status status) {
        answers.emplace_back("reload");
        reload = std::move(status);
    });
    loop.drain();
    ASSERT_EQ(processes.heldRuns.size(), 1U);
    const auto reloadProcess = processes.heldRuns.begin()->first;
    manager().perform(root, GetParam(), "web", [&](Status status) {
        answers.emplace_back("stop");
        stop = std::move(status);
    });
    loop.drain();
    EXPECT_EQ(processes.killed, (std::vector<ProcessId>{reloadProcess}));
    ASSERT_EQ(answers, (std::vector<std::string>{"reload", "stop"}));
    ASSERT_FALSE(reload->ok());
    EXPECT_EQ(reload->error().code(), ErrorCode::ReloadFailed);
    EXPECT_NE(std::string(reload->error().what()).find("cancelled by a " + std::string(toString(GetParam()))),
              std::string::npos)
        << reload->error().what();
    ASSERT_TRUE(stop->ok()) << stop->error().what();
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

INSTANTIATE_TEST_SUITE_P(StopAndTerminate, ReloadCancelTest, ::testing::Values(Verb::Stop, Verb::Terminate));

TEST_F(ReloadVerbTest, ARestartDuringAReloadIsStillBusy) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    processes.holdRuns = true;
    std::optional<Status> reload;
    manager().perform(root, Verb::Reload, "web", [&](Status status) { reload = std::move(status); });
    loop.drain();
    EXPECT_EQ(perform(Verb::Restart, "web", root).error().code(), ErrorCode::Busy);
    EXPECT_TRUE(processes.killed.empty());
    processes.finishRun(processes.heldRuns.begin()->first, ProcessExit{});
    loop.drain();
    ASSERT_TRUE(reload.has_value());
    EXPECT_TRUE(reload->ok());
}

}  // namespace
}  // namespace nixos_containers
