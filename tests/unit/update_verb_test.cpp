// Update: the patch is merged into the spec as it is when the update runs
// (after authorisation), saved, then a running container reloads or restarts.
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using UpdateVerbTest = ContainerManagerTest;

std::string readFile(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST_F(UpdateVerbTest, AnUpdateWaitingForPolkitDoesNotUndoOneThatRanMeanwhile) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    authorizer.answers[user.uid] = Authorization::Allowed;
    authorizer.hold = true;
    std::optional<Status> first;
    std::optional<Status> second;
    SpecPatch autoStart;
    autoStart.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    manager().update(user, "web", autoStart, [&](Status status) { first = std::move(status); });
    loop.drain();
    ASSERT_EQ(authorizer.held.size(), 1U);  // the first waits in polkit
    SpecPatch timeout;
    timeout.set("TimeoutStartSec", [](ContainerSpec& spec) { spec.timeoutStartSec = "2min"; });
    manager().update(root, "web", timeout, [&](Status status) { second = std::move(status); });
    loop.drain();
    ASSERT_TRUE(second && second->ok());
    authorizer.held.front()();
    loop.drain();
    ASSERT_TRUE(first && first->ok()) << (first ? first->error().what() : "no answer");
    const auto& spec = manager().get("web").spec;
    EXPECT_TRUE(spec.autoStart);
    EXPECT_EQ(spec.timeoutStartSec, "2min");
    auto conf = readFile(settings.configDir / "web.conf");
    EXPECT_NE(conf.find("AUTO_START=1"), std::string::npos) << conf;
    EXPECT_NE(conf.find("TIMEOUT_START_SEC=2min"), std::string::npos) << conf;
}

TEST_F(UpdateVerbTest, AnInvalidPatchIsRefusedBeforeAuthorizationAndChangesNothing) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    const auto before = readFile(settings.configDir / "web.conf");
    SpecPatch bad;
    bad.set("TimeoutStartSec", [](ContainerSpec& spec) { spec.timeoutStartSec = "soon"; });
    std::optional<Status> answer;
    manager().update(user, "web", bad, [&](Status status) { answer = std::move(status); });
    loop.drain();
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->error().code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty());
    EXPECT_EQ(readFile(settings.configDir / "web.conf"), before);
}

TEST_F(UpdateVerbTest, ARunningContainerRestartsForANewCommandLineAndReloadsForANewSystem) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    ASSERT_EQ(systemd.started.size(), 1U);

    SpecPatch tmpfs;
    tmpfs.set("Tmpfs", [](ContainerSpec& spec) { spec.tmpfs = {"/var/tmp"}; });
    std::optional<Status> restarted;
    manager().update(root, "web", tmpfs, [&](Status status) { restarted = std::move(status); });
    loop.drain();
    ASSERT_TRUE(restarted && restarted->ok());
    EXPECT_EQ(systemd.stopped.size(), 1U);
    EXPECT_EQ(systemd.started.size(), 2U);
    EXPECT_TRUE(processes.requests.empty());

    fs::create_directories(settings.storeDir / "def-system");
    std::ofstream(settings.storeDir / "def-system/init") << "#!/bin/sh\n";
    SpecPatch system;
    system.set("SystemPath", [this](ContainerSpec& spec) {
        spec.systemPath = (settings.storeDir / "def-system").string();
    });
    std::optional<Status> reloaded;
    manager().update(root, "web", system, [&](Status status) { reloaded = std::move(status); });
    loop.drain();
    ASSERT_TRUE(reloaded && reloaded->ok()) << reloaded->error().what();
    EXPECT_EQ(systemd.started.size(), 2U);
    ASSERT_EQ(processes.requests.size(), 1U);
    EXPECT_EQ(processes.requests[0].argv.at(0), "/nix/store/def-system/bin/switch-to-configuration");
}

TEST_F(UpdateVerbTest, AnEmptyUpdateRebuildsAContainerOfNixosContainerFromItsOwnConfiguration) {
    // As `nixos-container create web --config ...` leaves it: no source in
    // the conf, the module in the container's etc/nixos.
    fs::create_directories(settings.configDir);
    std::ofstream(settings.configDir / "web.conf") << "PRIVATE_NETWORK=0\n";
    const auto own = settings.stateDir / "web/etc/nixos/configuration.nix";
    fs::create_directories(own.parent_path());
    std::ofstream(own) << "{ ... }: { }\n";
    fs::create_directories(settings.storeDir / "old-system");
    std::ofstream(settings.storeDir / "old-system/init") << "#!/bin/sh\n";
    fs::create_directories(settings.profilesDir / "web");
    fs::create_symlink(settings.storeDir / "old-system", settings.profilesDir / "web/system");
    ASSERT_NE(manager().find("web"), nullptr);

    processes.buildResult = settings.storeDir / "abc-system";
    ASSERT_TRUE(update("web", SpecPatch{}, root).ok());
    ASSERT_EQ(processes.requests.size(), 1U);
    EXPECT_THAT(processes.requests[0].argv, ::testing::Contains("nixos-config=" + own.string()));
    EXPECT_EQ(manager().get("web").spec.configFile, own.string());

    // A build is host access: a caller polkit lets update, but not reach the
    // host, is refused naming the action and the key.
    authorizer.answers[user.uid] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::ChallengeRequired;
    fs::remove(settings.configDir / "web.conf");
    std::ofstream(settings.configDir / "web.conf") << "PRIVATE_NETWORK=0\n";
    manager_.reset();  // the service restarts and sees the conf as the old tool left it
    ASSERT_NE(manager().find("web"), nullptr);
    auto refused = update("web", SpecPatch{}, user);
    ASSERT_FALSE(refused.ok());
    EXPECT_THAT(refused.error().what(), ::testing::HasSubstr("org.nixos.containers.host-access"));
    EXPECT_THAT(refused.error().what(), ::testing::HasSubstr("ConfigFile"));
}

TEST_F(UpdateVerbTest, NewLimitsAreSetOnTheRunningUnitWithoutARestartOrAReload) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    const auto unit = manager().get("web").unit;
    SpecPatch limits;
    limits.set("MemoryMax", [](ContainerSpec& spec) { spec.memoryMax = "32M"; });
    limits.set("CPUWeight", [](ContainerSpec& spec) { spec.cpuWeight = "50"; });
    ASSERT_TRUE(update("web", limits, root).ok());
    EXPECT_TRUE(systemd.stopped.empty());
    EXPECT_EQ(systemd.started.size(), 1U);
    EXPECT_TRUE(processes.requests.empty());  // no switch-to-configuration either
    ASSERT_EQ(systemd.propertiesSet.size(), 1U);
    EXPECT_EQ(systemd.propertiesSet[0].first, unit);
    EXPECT_EQ(systemd.propertiesSet[0].second,
              (std::vector<UnitProperty>{{"MemoryMax", 32U << 20}, {"CPUWeight", 50}}));
    EXPECT_EQ(manager().get("web").spec.memoryMax, "32M");

    // Cleared: back to systemd's default, still live.
    SpecPatch cleared;
    cleared.set("CPUWeight", [](ContainerSpec& spec) { spec.cpuWeight.clear(); });
    ASSERT_TRUE(update("web", cleared, root).ok());
    ASSERT_EQ(systemd.propertiesSet.size(), 2U);
    EXPECT_EQ(systemd.propertiesSet[1].second, (std::vector<UnitProperty>{{"CPUWeight", UINT64_MAX}}));
    EXPECT_EQ(systemd.started.size(), 1U);
}

TEST_F(UpdateVerbTest, LimitsOfAStoppedContainerWaitForItsNextStart) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    SpecPatch limits;
    limits.set("TasksMax", [](ContainerSpec& spec) { spec.tasksMax = "64"; });
    ASSERT_TRUE(update("web", limits, root).ok());
    EXPECT_TRUE(systemd.propertiesSet.empty());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].limits, (std::vector<UnitProperty>{{"TasksMax", 64}}));
}

TEST_F(UpdateVerbTest, ClearingTasksMaxRestartsForSystemdHasNoDefaultToSetLive) {
    auto spec = systemSpec();
    spec.tasksMax = "64";
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    SpecPatch cleared;
    cleared.set("TasksMax", [](ContainerSpec& spec) { spec.tasksMax.clear(); });
    ASSERT_TRUE(update("web", cleared, root).ok());
    EXPECT_TRUE(systemd.propertiesSet.empty());
    EXPECT_EQ(systemd.stopped.size(), 1U);
    ASSERT_EQ(systemd.started.size(), 2U);
    EXPECT_TRUE(systemd.started[1].limits.empty());
}

TEST_F(UpdateVerbTest, LimitsSystemdRefusesFailTheUpdateAndSayTheyAreSaved) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    systemd.units.erase(manager().get("web").unit);  // it went away under us
    SpecPatch limits;
    limits.set("IOWeight", [](ContainerSpec& spec) { spec.ioWeight = "300"; });
    auto status = update("web", limits, root);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(std::string(status.error().what()).find("apply from the next start"), std::string::npos)
        << status.error().what();
    EXPECT_EQ(manager().get("web").spec.ioWeight, "300");
}

// Issue 25: a private network's addresses that the service chose go with
// the private network; addresses the caller gave stay, and are refused.
// A restart takes the old container's network with it: the old plan is
// released, and the registry shows the new spec (one change, after the stop).
TEST_F(UpdateVerbTest, ARestartReleasesTheOldNetworkThenCommitsTheNewSpec) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    std::vector<std::string> released;
    network.onRelease = [&](const NetworkPlan& plan) {
        released.push_back(plan.mainVeth ? plan.mainVeth->options.hostAddress : "no veth");
        // What the registry shows while the old container goes.
        released.push_back(manager().get("web").spec.network.hostAddress);
    };
    SpecPatch moved;
    moved.set("HostAddress", [](ContainerSpec& changed) { changed.network.hostAddress = "192.168.7.1"; });
    moved.set("LocalAddress", [](ContainerSpec& changed) { changed.network.localAddress = "192.168.7.2"; });
    auto status = update("web", moved, root);
    ASSERT_TRUE(status.ok()) << status.error().what();
    EXPECT_EQ(systemd.stopped.size(), 1U);
    EXPECT_EQ(systemd.started.size(), 2U);
    // The stop's release first (the start then releases what may be stale).
    ASSERT_GE(released.size(), 2U);
    EXPECT_THAT(released[0], ::testing::HasSubstr("10.233.0.1"));
    EXPECT_EQ(released[1], "10.233.0.1");
    EXPECT_EQ(manager().get("web").spec.network.hostAddress, "192.168.7.1");
}

TEST_F(UpdateVerbTest, TurningThePrivateNetworkOffDropsThePoolAddressesTheServiceChose) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_EQ(manager().get("web").spec.network.hostAddress, "10.233.0.1");
    SpecPatch off;
    off.set("PrivateNetwork", [](ContainerSpec& changed) { changed.privateNetwork = false; });
    auto status = update("web", off, root);
    ASSERT_TRUE(status.ok()) << status.error().what();
    EXPECT_TRUE(manager().get("web").spec.network.hostAddress.empty());
    EXPECT_TRUE(manager().get("web").spec.network.localAddress.empty());
    EXPECT_EQ(readFile(settings.configDir / "web.conf").find("10.233.0."), std::string::npos);

    // The pair is free again: the next private network gets it.
    spec.privateNetwork = true;
    ASSERT_TRUE(create("db", spec, root).ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress, "10.233.0.1");

    spec.network.hostAddress = "192.168.7.1";
    spec.network.localAddress = "192.168.7.2";
    ASSERT_TRUE(create("own", spec, root).ok());
    status = update("own", off, root);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code(), ErrorCode::InvalidArgument);
    EXPECT_STREQ(status.error().what(), "HostAddress requires PrivateNetwork");
}

}  // namespace
}  // namespace nixos_containers
