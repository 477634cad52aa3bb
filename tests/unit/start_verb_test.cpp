// Start: pre-start, the network before the unit, the leader and the addresses, against the fake seams
// (tests/support/fake_seams.h). The same behaviours run against the real programs in tests/bus and
// tests/sandbox.
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

class StartVerbTest : public ContainerManagerTest {
protected:
    // A Start of "web" whose unit job systemd holds (systemd.held[0] ends
    // it); the answer lands in `answer`.
    void startHeld(std::optional<Status>& answer) {
        ASSERT_TRUE(create("web", systemSpec(), root).ok());
        systemd.holdStarts = true;
        manager().perform(root, Verb::Start, "web", [&answer](Status status) { answer = std::move(status); });
        loop.drain();
        ASSERT_EQ(systemd.held.size(), 1U);
    }
};

TEST_F(StartVerbTest, StartPreparesTheNetworkBeforeTheUnitAndStopReleasesIt) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    auto started = perform(Verb::Start, "web", root);
    ASSERT_TRUE(started.ok()) << started.error().what();
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].name, "nixos-container@web.service");
    // As today's module: the container's systemd on cgroup v2 whatever its root holds.
    EXPECT_THAT(systemd.started[0].environment, Contains("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1"));
    EXPECT_THAT(machines.terminated, Contains("web"));  // stale registration first
    EXPECT_THAT(network.events, Contains("prepare web"));
    const auto& container = manager().get("web");
    EXPECT_EQ(container.state, ContainerState::Running);
    EXPECT_EQ(container.leader, 4242U);
    EXPECT_TRUE(fs::exists(container.root / "etc/os-release"));
    EXPECT_TRUE(fs::exists(container.root / "etc/resolv.conf"));
    EXPECT_THAT(observer.states, Contains("starting"));

    network.events.clear();
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    EXPECT_THAT(network.events, Contains("release web"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_EQ(manager().get("web").leader, 0U);
}

// nix-daemon trusts uid 0: only a container whose root is not the host's
// root, or root's own (as the module), gets its socket.
TEST_F(StartVerbTest, TheNixDaemonSocketReachesRootsContainersAndUserNamespacedOnesOnly) {
    fs::create_directories(settings.nixStateDir / "daemon-socket");
    authorizer.answers[user.uid] = Authorization::Allowed;  // every action, host access too
    const auto socketBind =
        "--bind-ro=" + (settings.nixStateDir / "daemon-socket").string() + ":/nix/var/nix/daemon-socket";
    auto startedWithSocket = [&](const std::string& name, ContainerSpec spec, const Caller& caller) {
        EXPECT_TRUE(create(name, spec, caller).ok());
        machines.machines[name] = {name, "nixos-container@" + name + ".service", 4242, "", 0};
        auto started = perform(Verb::Start, name, caller);
        EXPECT_TRUE(started.ok()) << started.error().what();
        const auto& argv = systemd.started.back().execStart;
        return std::find(argv.begin(), argv.end(), socketBind) != argv.end();
    };
    EXPECT_TRUE(startedWithSocket("rootweb", systemSpec(), root));
    // A user's container on the host's network runs with PrivateUsers pick.
    EXPECT_TRUE(startedWithSocket("userns", systemSpec(), user));
    EXPECT_EQ(manager().get("userns").spec.privateUsers, "pick");
    // On a private network too; the unit starts nspawn inside it.
    auto privateNetwork = systemSpec();
    privateNetwork.privateNetwork = true;
    EXPECT_TRUE(startedWithSocket("usernet", privateNetwork, user));
    EXPECT_EQ(manager().get("usernet").spec.privateUsers, "pick");
    EXPECT_EQ(systemd.started.back().networkNamespacePath, netnsPinPath(settings, "usernet").string());
    // A user's container whose root is the host's (granted as host access).
    privateNetwork.privateUsers = "no";
    EXPECT_FALSE(startedWithSocket("usernoun", privateNetwork, user));
    EXPECT_EQ(systemd.started.back().networkNamespacePath, "");
}

// machined reads a container's addresses inside it, which takes
// milliseconds: Start does not wait for them.

TEST_F(StartVerbTest, StartAnswersBeforeMachinedsAddressesWhichFollow) {
    createWebWithMachinedAddressesHeld();
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
    EXPECT_EQ(manager().get("web").addresses, std::vector<std::string>{"10.233.0.2"});  // planned
    ASSERT_EQ(machines.heldAddresses.size(), 1U);

    observer.addresses.clear();
    machines.heldAddresses[0]();
    loop.drain();
    EXPECT_EQ(manager().get("web").addresses, (std::vector<std::string>{"10.233.0.2", "fe80::2"}));
    EXPECT_THAT(observer.addresses, Contains(std::vector<std::string>{"10.233.0.2", "fe80::2"}));
}

TEST_F(StartVerbTest, AStartWhoseLeaderMachineNewBroughtAnswersWithoutAskingMachinedAgain) {
    std::optional<Status> answer;
    ASSERT_NO_FATAL_FAILURE(startHeld(answer));
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(machines.watcher);
    machines.watcher("web", true);  // nspawn registered the machine; the init is not ready yet
    loop.drain();
    EXPECT_EQ(manager().get("web").leader, 4242U);
    const auto lookups = machines.lookups;
    systemd.held[0]();
    loop.drain();
    ASSERT_TRUE(answer.has_value());
    EXPECT_TRUE(answer->ok());
    EXPECT_EQ(manager().get("web").state, ContainerState::Running);
    EXPECT_EQ(manager().get("web").leader, 4242U);
    EXPECT_EQ(machines.lookups, lookups);  // the answer did not wait for machined
}

TEST_F(StartVerbTest, AStartWhoseLastMachineLookupIsOutWhenTheJobEndsAnswersWithItsAnswer) {
    std::optional<Status> answer;
    ASSERT_NO_FATAL_FAILURE(startHeld(answer));
    // A stale registration's MachineNew (since terminated), answered ...
    machines.machines["web"] = {"web", "nixos-container@web.service", 99, "", 0};
    machines.watcher("web", true);
    loop.drain();
    EXPECT_EQ(manager().get("web").leader, 99U);
    // ... then nspawn's own, whose lookup is still out when the job ends.
    machines.holdLookups = true;
    machines.watcher("web", true);
    loop.drain();
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    systemd.held[0]();
    loop.drain();
    EXPECT_FALSE(answer.has_value());
    machines.holdLookups = false;
    for (auto& held : std::exchange(machines.heldLookups, {})) {
        held();
    }
    loop.drain();
    ASSERT_TRUE(answer.has_value());
    EXPECT_TRUE(answer->ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
}

TEST_F(StartVerbTest, AStartNeverKeepsTheLeaderOfAnEarlierMachine) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 111, "", 0};  // a stale registration
    machines.watcher("web", true);
    loop.drain();
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
}

TEST_F(StartVerbTest, FailedStartReportsTheUnitResultAndReleasesTheNetwork) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    systemd.failStart = true;
    auto started = perform(Verb::Start, "web", root);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started.error().what(), HasSubstr("exit-code"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Failed);
    EXPECT_THAT(network.events, Contains("release web"));
    // Stop forgets the failure, and the next Start works.
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    systemd.failStart = false;
    EXPECT_TRUE(perform(Verb::Start, "web", root).ok());
}

TEST_F(StartVerbTest, NetworkFailureIsNamedAndNothingStarts) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    network.failPrepare = true;
    auto started = perform(Verb::Start, "web", root);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::NetworkSetupFailed);
    EXPECT_THAT(started.error().what(), HasSubstr("br9"));
    EXPECT_TRUE(systemd.started.empty());
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

// Issue 25: a tenant's read-only bind beneath a confined root is opened by
// the service at Start and nspawn binds what it opened (the pin), so a link
// put there after Create is never followed; root's binds stay nspawn's.
TEST_F(StartVerbTest, ATenantsConfinedBindIsPinnedAtStartAndUnpinnedWhenItStops) {
    settings.confinedBindRoots = {top / "shared"};
    fs::create_directories(top / "shared/web");
    authorizer.answers[user.uid] = Authorization::Allowed;
    auto spec = systemSpec();
    spec.bindMounts = {{"/data", (top / "shared/web").string(), true}, {"/etc-host", "/etc", true}};
    ASSERT_TRUE(create("web", spec, user).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    auto started = perform(Verb::Start, "web", user);
    ASSERT_TRUE(started.ok()) << started.error().what();
    const auto directory = (settings.runtimeDir / "binds/web").string();
    ASSERT_EQ(binds.pinned.count(directory), 1U);
    const auto& pins = binds.pinned[directory];
    ASSERT_EQ(pins.size(), 1U);  // /etc is not beneath a confined root: granted as host access
    EXPECT_EQ(pins[0].index, 0U);
    EXPECT_EQ(pins[0].beneath, fs::path("web"));
    const auto& argv = systemd.started.back().execStart;
    EXPECT_THAT(argv, Contains("--bind-ro=" + directory + "/0:/data"));
    EXPECT_THAT(argv, Contains("--bind-ro=/etc:/etc-host"));

    ASSERT_TRUE(perform(Verb::Stop, "web", user).ok());
    EXPECT_EQ(binds.pinned.count(directory), 0U);
    EXPECT_THAT(binds.unpinned, Contains(directory));

    // A pin that fails fails the start, and nothing stays pinned.
    binds.refuse = "BindMounts host path '" + (top / "shared/web").string() + "' is reached through the link";
    started = perform(Verb::Start, "web", user);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started.error().what(), HasSubstr("is reached through the link"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_EQ(binds.pinned.count(directory), 0U);

    // Root's container: nspawn resolves its binds, as the module's does.
    binds.refuse.clear();
    ASSERT_TRUE(create("rootweb", spec, root).ok());
    machines.machines["rootweb"] = {"rootweb", "nixos-container@rootweb.service", 4243, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "rootweb", root).ok());
    EXPECT_EQ(binds.pinned.count((settings.runtimeDir / "binds/rootweb").string()), 0U);
    EXPECT_THAT(systemd.started.back().execStart,
                Contains("--bind-ro=" + (top / "shared/web").string() + ":/data"));
}

}  // namespace
}  // namespace nixos_containers
