// Run: a caller's command in a running container (CommandRunner), over the
// fake runner. The leader is this test process, so the identity comes from
// the host's /etc/passwd as "its" tree.
#include "manager_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

namespace nixos_containers {
namespace {

class RunCommandTest : public ContainerManagerTest {
protected:
    void startWeb() { startRunning("web"); }
    RunCommand command(std::vector<std::string> argv, RunOptions options = {}) {
        RunCommand run{std::move(argv), std::move(options), std::make_shared<StdioFds>()};
        run.stdio->in.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        run.stdio->out.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        run.stdio->err.reset(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        return run;
    }
    // Starts a Run; its answer lands in `answer` when the loop gets to it.
    void start(const Caller& caller, const std::string& name, RunCommand run) {
        manager().run(caller, name, std::move(run), [this](Outcome<ProcessExit> exit) {
            answer = std::move(exit);
            ++answers;
        });
        loop.drain();
    }
    std::optional<Outcome<ProcessExit>> answer;
    int answers = 0;
};

TEST_F(RunCommandTest, SpawnsInTheLeaderAsTheUserWithTheCallersEnvironmentAndLetsGoOfTheFds) {
    startWeb();
    auto run = command({"sh", "-c", "exit 3"}, {"nobody", {"FOO=bar", "PATH=/bin:relative"}, "/tmp"});
    auto stdio = run.stdio;
    const auto lookups = machines.lookups;
    start(root, "web", std::move(run));
    ASSERT_EQ(processes.spawned.size(), 1U);
    const auto& request = processes.spawned[0];
    EXPECT_EQ(request.leader, ::getpid());
    // The leader the registry follows, checked by the runner against the unit:
    // no round trip to machined.
    EXPECT_EQ(request.unit, "nixos-container@web.service");
    EXPECT_EQ(machines.lookups, lookups);
    EXPECT_EQ(request.argv, (std::vector<std::string>{"sh", "-c", "exit 3"}));
    EXPECT_EQ(request.executables, (std::vector<std::string>{"/bin/sh"}));
    EXPECT_EQ(request.workingDirectory, "/tmp");
    EXPECT_EQ(request.identity.uid, 65534U);
    auto has = [&request](const std::string& entry) {
        return std::find(request.environment.begin(), request.environment.end(), entry) !=
               request.environment.end();
    };
    EXPECT_TRUE(has("FOO=bar"));
    EXPECT_TRUE(has("PATH=/bin:relative"));
    EXPECT_TRUE(has("USER=nobody"));
    // The service holds none of the caller's descriptors once it forked.
    EXPECT_EQ(stdio->out.get(), -1);
    EXPECT_EQ(answers, 0);
    ProcessExit exit;
    exit.exitStatus = 3;
    processes.finishSpawned(1, exit);
    loop.drain();
    ASSERT_EQ(answers, 1);
    ASSERT_TRUE(answer->ok());
    EXPECT_EQ(answer->value().exitStatus, 3);
}

TEST_F(RunCommandTest, RootIsTheDefaultUserAndSlashTheDefaultDirectory) {
    startWeb();
    start(root, "web", command({"/bin/true"}));
    ASSERT_EQ(processes.spawned.size(), 1U);
    EXPECT_EQ(processes.spawned[0].identity.uid, 0U);
    EXPECT_EQ(processes.spawned[0].workingDirectory, "/");
    EXPECT_EQ(processes.spawned[0].executables, (std::vector<std::string>{"/bin/true"}));
}

TEST_F(RunCommandTest, ErrorsAreNamedAndComeBeforeAuthorization) {
    EXPECT_EQ((start(user, "nope", command({"/bin/true"})), answer->error().code()),
              ErrorCode::NoSuchContainer);
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    EXPECT_EQ((start(user, "web", command({})), answer->error().code()), ErrorCode::InvalidArgument);
    EXPECT_EQ((start(user, "web", command({"/bin/true"}, {"", {"NOEQUALS"}, ""})), answer->error().code()),
              ErrorCode::InvalidArgument);
    EXPECT_EQ((start(user, "web", command({"/bin/true"}, {"", {}, "relative"})), answer->error().code()),
              ErrorCode::InvalidArgument);
    EXPECT_EQ((start(user, "web", command({"/bin/true"}, {"a:b", {}, ""})), answer->error().code()),
              ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty());
    EXPECT_EQ((start(root, "web", command({"/bin/true"})), answer->error().code()), ErrorCode::NotRunning);
    EXPECT_TRUE(processes.spawned.empty());
}

TEST_F(RunCommandTest, AnUnknownUserIsInvalid) {
    startWeb();
    start(root, "web", command({"/bin/true"}, {"no-such-user-here", {}, ""}));
    ASSERT_FALSE(answer->ok());
    EXPECT_EQ(answer->error().code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(processes.spawned.empty());
}

TEST_F(RunCommandTest, TheUidThatMeansUnchangedIsRefused) {
    startWeb();
    start(root, "web", command({"/bin/true"}, {"4294967295", {}, ""}));
    ASSERT_FALSE(answer->ok());
    EXPECT_EQ(answer->error().code(), ErrorCode::InvalidArgument);
    start(root, "web", command({"/bin/true"}, {"99999999999999999999", {}, ""}));
    EXPECT_EQ(answer->error().code(), ErrorCode::InvalidArgument);
    start(root, "web", command({"/bin/true"}, {"4242", {}, ""}));
    ASSERT_EQ(processes.spawned.size(), 1U);
    EXPECT_EQ(processes.spawned[0].identity.uid, 4242U);
}

TEST_F(RunCommandTest, AuthorizesTheRunActionWithUserAndCommand) {
    startWeb();
    authorizer.answers[user.uid] = Authorization::Denied;
    start(user, "web", command({"/bin/echo", "hi"}, {"nobody", {}, ""}));
    EXPECT_EQ(answer->error().code(), ErrorCode::AccessDenied);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.run");
    EXPECT_EQ(authorizer.checks[0].second.at("verb"), "run");
    EXPECT_EQ(authorizer.checks[0].second.at("container"), "web");
    EXPECT_EQ(authorizer.checks[0].second.at("user"), "nobody");
    EXPECT_EQ(authorizer.checks[0].second.at("command"), "/bin/echo hi");
    EXPECT_TRUE(processes.spawned.empty());
    authorizer.answers[user.uid] = Authorization::ChallengeRequired;
    start(user, "web", command({"/bin/true"}));
    EXPECT_EQ(answer->error().code(), ErrorCode::InteractiveAuthorizationRequired);
    authorizer.answers[user.uid] = Authorization::Allowed;
    start(user, "web", command({"/bin/true"}));
    EXPECT_EQ(processes.spawned.size(), 1U);
}

TEST_F(RunCommandTest, TheCallerLeavingKillsItsCommandsOnly) {
    startWeb();
    auto other = root;
    other.busName = ":1.99";
    start(root, "web", command({"/bin/sleep", "100"}));
    manager().run(other, "web", command({"/bin/sleep", "100"}), [](const Outcome<ProcessExit>&) {});
    loop.drain();
    ASSERT_EQ(processes.spawned.size(), 2U);
    manager().callerGone(root.busName);
    loop.drain();
    EXPECT_EQ(processes.killed, (std::vector<ProcessId>{1}));
    ASSERT_EQ(answers, 1);
    EXPECT_FALSE(answer->ok());
    EXPECT_EQ(manager().commandsRunning(), 1U);
}

TEST_F(RunCommandTest, ACallerGoneBeforeTheSpawnGetsNoCommand) {
    startWeb();
    authorizer.hold = true;
    authorizer.answers[user.uid] = Authorization::Allowed;
    manager().run(user, "web", command({"/bin/true"}), [this](Outcome<ProcessExit> exit) {
        answer = std::move(exit);
        ++answers;
    });
    loop.drain();
    manager().callerGone(user.busName);
    authorizer.hold = false;  // host access (web is root's) is asked at once
    for (auto& held : authorizer.held) {
        held();
    }
    loop.drain();
    EXPECT_TRUE(processes.spawned.empty());
    ASSERT_EQ(answers, 1);
    EXPECT_FALSE(answer->ok());
    EXPECT_EQ(manager().commandsRunning(), 0U);
}

TEST_F(RunCommandTest, RunsAreBoundedAndDoNotHoldTheContainer) {
    settings.maxRuns = 1;
    startWeb();
    authorizer.answers[user.uid] = Authorization::Allowed;
    start(user, "web", command({"/bin/sleep", "100"}));
    start(user, "web", command({"/bin/true"}));
    EXPECT_EQ(answer->error().code(), ErrorCode::LimitsExceeded);
    // Stop is not Busy while a command runs.
    EXPECT_TRUE(perform(Verb::Stop, "web", root).ok());
}

// Issue 25, item 2: a container whose users are the host's (root's
// containers have PrivateUsers "no") is entered as the host's root: the
// plain run action is not enough.
TEST_F(RunCommandTest, EnteringAContainerWithoutAUserNamespaceNeedsHostAccess) {
    startWeb();  // root's: PrivateUsers "no"
    authorizer.actionAnswers["org.nixos.containers.run"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::ChallengeRequired;
    start(user, "web", command({"/bin/id"}));
    ASSERT_FALSE(answer->ok());
    EXPECT_EQ(answer->error().code(), ErrorCode::InteractiveAuthorizationRequired);
    EXPECT_NE(std::string(answer->error().what())
                  .find("org.nixos.containers.host-access (run 'web' with PrivateUsers)"),
              std::string::npos)
        << answer->error().what();
    ASSERT_EQ(authorizer.checks.size(), 2U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.run");
    EXPECT_EQ(authorizer.checks[1].first, "org.nixos.containers.host-access");
    EXPECT_EQ(authorizer.checks[1].second.at("keys"), "PrivateUsers");
    EXPECT_EQ(authorizer.checks[1].second.at("verb"), "run");
    EXPECT_EQ(authorizer.checks[1].second.at("command"), "/bin/id");
    EXPECT_TRUE(processes.spawned.empty());
    EXPECT_EQ(manager().commandsRunning(), 0U);
    // Granted host access, it runs; root needs no polkit at all.
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Allowed;
    start(user, "web", command({"/bin/id"}));
    EXPECT_EQ(processes.spawned.size(), 1U);
    authorizer.checks.clear();
    start(root, "web", command({"/bin/id"}));
    EXPECT_EQ(processes.spawned.size(), 2U);
    EXPECT_TRUE(authorizer.checks.empty());
}

TEST_F(RunCommandTest, AUserNamespacedContainerNeedsOnlyTheRunAction) {
    auto spec = systemSpec();
    spec.privateUsers = "pick";
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", static_cast<std::uint32_t>(::getpid()),
                                "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    authorizer.actionAnswers["org.nixos.containers.run"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Denied;
    start(user, "web", command({"/bin/true"}));
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(processes.spawned.size(), 1U);
}

TEST_F(RunCommandTest, AContainerThatCameToReachTheHostWhilePolkitThoughtIsNotEntered) {
    auto spec = systemSpec();
    spec.privateUsers = "pick";
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", static_cast<std::uint32_t>(::getpid()),
                                "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    authorizer.actionAnswers["org.nixos.containers.run"] = Authorization::Allowed;
    authorizer.hold = true;
    manager().run(user, "web", command({"/bin/true"}), [this](Outcome<ProcessExit> exit) {
        answer = std::move(exit);
        ++answers;
    });
    loop.drain();
    ASSERT_EQ(authorizer.held.size(), 1U);
    SpecPatch patch;
    patch.set("PrivateUsers", [](ContainerSpec& changed) { changed.privateUsers = "no"; });
    ASSERT_TRUE(update("web", patch, root).ok());
    ASSERT_EQ(manager().get("web").spec.privateUsers, "no");
    // The run action was asked while the container was confined; it is
    // allowed now, and host access is asked for the container as it is.
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Denied;
    authorizer.hold = false;
    authorizer.held[0]();
    loop.drain();
    ASSERT_EQ(answers, 1);
    ASSERT_FALSE(answer->ok());
    EXPECT_EQ(answer->error().code(), ErrorCode::AccessDenied);
    EXPECT_TRUE(processes.spawned.empty());
}

// Issue 25, item 7: one tenant must not take every Run slot, root's included.
class RunBoundsTest : public RunCommandTest {
protected:
    RunBoundsTest() {
        tenant = user;
        other = user;
        other.uid = 61002;
        other.busName = ":1.43";
        authorizer.answers[tenant.uid] = Authorization::Allowed;
        authorizer.answers[other.uid] = Authorization::Allowed;
    }
    void startConfined() {
        auto spec = systemSpec();
        spec.privateUsers = "pick";
        ASSERT_TRUE(create("web", spec, root).ok());
        machines.machines["web"] = {"web", "nixos-container@web.service",
                                    static_cast<std::uint32_t>(::getpid()), "", 0};
        ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    }
    Caller tenant;
    Caller other;
};

TEST_F(RunBoundsTest, ATenantAtItsBoundIsLimitedAndNobodyElseIs) {
    settings.maxRunsPerUser = 2;
    settings.maxRuns = 10;
    startConfined();
    start(tenant, "web", command({"/bin/sleep", "60"}));
    start(tenant, "web", command({"/bin/sleep", "60"}));
    ASSERT_EQ(processes.spawned.size(), 2U);
    start(tenant, "web", command({"/bin/sleep", "60"}));
    ASSERT_FALSE(answer->ok());
    EXPECT_EQ(answer->error().code(), ErrorCode::LimitsExceeded);
    EXPECT_NE(std::string(answer->error().what()).find("uid 61001 has 2 commands running"), std::string::npos)
        << answer->error().what();
    EXPECT_EQ(processes.spawned.size(), 2U);
    start(other, "web", command({"/bin/true"}));
    EXPECT_EQ(processes.spawned.size(), 3U);
    start(root, "web", command({"/bin/true"}));
    EXPECT_EQ(processes.spawned.size(), 4U);
    // A slot comes back when its command ends.
    processes.finishSpawned(1, ProcessExit{});
    loop.drain();
    start(tenant, "web", command({"/bin/true"}));
    EXPECT_EQ(processes.spawned.size(), 5U);
}

TEST_F(RunBoundsTest, RootIsNeverLockedOutByTheGlobalBound) {
    settings.maxRunsPerUser = 8;
    settings.maxRuns = 2;
    startConfined();
    start(tenant, "web", command({"/bin/sleep", "60"}));
    start(other, "web", command({"/bin/sleep", "60"}));
    start(tenant, "web", command({"/bin/true"}));
    EXPECT_EQ(answer->error().code(), ErrorCode::LimitsExceeded);
    EXPECT_EQ(processes.spawned.size(), 2U);
    for (int i = 0; i < 4; ++i) {
        start(root, "web", command({"/bin/sleep", "60"}));
    }
    EXPECT_EQ(processes.spawned.size(), 6U);
}

TEST_F(RunBoundsTest, ACallerPolkitHasNotAllowedHoldsNoSlot) {
    settings.maxRunsPerUser = 1;
    settings.maxRuns = 1;
    startConfined();
    const Caller denied{":1.44", 61003, false, false};
    authorizer.answers[denied.uid] = Authorization::Denied;
    authorizer.hold = true;
    std::vector<Outcome<ProcessExit>> deniedAnswers;
    for (int i = 0; i < 5; ++i) {
        manager().run(denied, "web", command({"/bin/true"}), [&deniedAnswers](Outcome<ProcessExit> exit) {
            deniedAnswers.push_back(std::move(exit));
        });
    }
    loop.drain();
    ASSERT_EQ(authorizer.held.size(), 5U);
    authorizer.hold = false;
    start(tenant, "web", command({"/bin/sleep", "60"}));
    EXPECT_EQ(processes.spawned.size(), 1U);
    for (auto& held : authorizer.held) {
        held();
    }
    loop.drain();
    ASSERT_EQ(deniedAnswers.size(), 5U);
    for (const auto& refused : deniedAnswers) {
        EXPECT_EQ(refused.error().code(), ErrorCode::AccessDenied);
    }
}

}  // namespace
}  // namespace nixos_containers
