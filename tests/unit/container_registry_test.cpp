// What exists and its state: recovery, machined's leaders and addresses, against the fake seams
// (tests/support/fake_seams.h). The same behaviours run against the real programs in tests/bus and
// tests/sandbox.
#include "container_json.h"
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

using ContainerRegistryTest = ContainerManagerTest;

TEST_F(ContainerRegistryTest, AMachineOfItsNameDoesNotGiveAStoppedContainerALeader) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "other.service", 777, "", 0};  // somebody else's nspawn -M web
    machines.watcher("web", true);
    loop.drain();
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_EQ(manager().get("web").leader, 0U);
}

TEST_F(ContainerRegistryTest, ARunningContainerShowsMachinedsObjectTimestampAndOSRelease) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242,
                                "/org/freedesktop/machine1/machine/web", 1700000000000000ULL};
    machines.osRelease["web"] = {{"ID", "nixos"}, {"VERSION_ID", "24.05"}};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    loop.drain();
    const auto& web = manager().get("web");
    EXPECT_EQ(web.machinePath, "/org/freedesktop/machine1/machine/web");
    EXPECT_EQ(web.timestamp, 1700000000000000ULL);
    EXPECT_EQ(web.osRelease, (std::map<std::string, std::string>{{"ID", "nixos"}, {"VERSION_ID", "24.05"}}));
    machines.machines.erase("web");
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    EXPECT_EQ(manager().get("web").machinePath, "");
    EXPECT_EQ(manager().get("web").timestamp, 0U);
    EXPECT_TRUE(manager().get("web").osRelease.empty());
}

TEST_F(ContainerRegistryTest, AddressesAnsweredAfterTheContainerStoppedAreDropped) {
    createWebWithMachinedAddressesHeld();
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    machines.machines.erase("web");
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    ASSERT_FALSE(machines.heldAddresses.empty());
    machines.heldAddresses[0]();
    loop.drain();
    EXPECT_EQ(manager().get("web").addresses, std::vector<std::string>{"10.233.0.2"});
}

TEST_F(ContainerRegistryTest, WithoutAPrivateNetworkMachinedIsNotAskedForAddresses) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
    EXPECT_EQ(machines.addressQueries, 0);
}

TEST_F(ContainerRegistryTest, AFailedContainerShowsWhyItsUnitFailedUntilItStartsAgain) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    systemd.failStart = true;
    EXPECT_FALSE(perform(Verb::Start, "web", root).ok());
    loop.drain();
    EXPECT_EQ(manager().get("web").state, ContainerState::Failed);
    EXPECT_EQ(manager().get("web").unitResult, "exit-code");
    EXPECT_EQ(toJson(manager().get("web"), false).at("UnitResult"), "exit-code");

    systemd.failStart = false;
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    loop.drain();
    EXPECT_EQ(manager().get("web").unitResult, "");
}

TEST_F(ContainerRegistryTest, AContainerThatDiesByItselfShowsItsUnitsResult) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    const auto unit = manager().get("web").unit;
    systemd.units[unit] = {"failed", "failed", "core-dump"};
    systemd.watcher(unit, {"failed", "failed", ""});  // signals carry no Result
    loop.drain();
    EXPECT_EQ(manager().get("web").state, ContainerState::Failed);
    EXPECT_EQ(manager().get("web").unitResult, "core-dump");
}

// As systemctl stop: a Stop while the container starts cancels the start
// instead of waiting for it (up to TimeoutStartSec) or answering Busy.

TEST_F(ContainerRegistryTest, RecoveryTakesStateFromSystemdAndMachinedAndAutoStarts) {
    ASSERT_TRUE(create("running", systemSpec(), root).ok());
    auto autoSpec = systemSpec();
    autoSpec.autoStart = true;
    ASSERT_TRUE(create("auto", autoSpec, root).ok());
    manager_.reset();  // the service is restarted

    systemd.units["nixos-container@running.service"] = {"active", "running", ""};
    machines.machines["running"] = {"running", "nixos-container@running.service", 99, "", 0};
    systemd.started.clear();
    auto& restarted = manager();
    EXPECT_EQ(restarted.get("running").state, ContainerState::Running);
    EXPECT_EQ(restarted.get("running").leader, 99U);
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].name, "nixos-container@auto.service");
    EXPECT_EQ(restarted.get("auto").state, ContainerState::Running);
}

// Issue 25 item 10: the service restarted while starts were in flight. A
// unit that became active after systemd answered the listing, but before
// machined answered its own, must not be set back to the listing's
// "activating": no later signal would ever correct it.
TEST_F(ContainerRegistryTest, TheStartupSnapshotNeverUndoesANewerUnitSignal) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(create("db", systemSpec(), root).ok());
    manager_.reset();  // the service is restarted during two starts
    systemd.units["nixos-container@web.service"] = {"activating", "start", ""};
    systemd.units["nixos-container@db.service"] = {"activating", "start", ""};
    machines.beforeListAnswer = [this] {
        systemd.units["nixos-container@web.service"] = {"active", "running", ""};
        machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
        systemd.watcher("nixos-container@web.service", {"active", "running", ""});
    };
    auto& restarted = manager();
    EXPECT_EQ(restarted.get("web").state, ContainerState::Running);
    EXPECT_EQ(restarted.get("web").leader, 4242U);
    EXPECT_EQ(restarted.get("db").state, ContainerState::Starting);  // what the listing said
    // A signal that came before the listing's answer is older than it.
    systemd.watcher("nixos-container@db.service", {"active", "running", ""});
    loop.drain();
    EXPECT_EQ(restarted.get("db").state, ContainerState::Running);
}

// Issue 25 item 13: a conf the service cannot read is listed, saying why;
// Start refuses it naming the problem, Create finds the name taken, and
// Destroy removes it.
TEST_F(ContainerRegistryTest, ABrokenConfIsListedSaysWhyAndCanBeDestroyed) {
    fs::create_directories(settings.configDir);
    std::ofstream(settings.configDir / "cut.conf") << "SYSTEM_PATH=/nix/sto";
    auto& service = manager();
    const auto* cut = service.find("cut");
    ASSERT_NE(cut, nullptr);
    EXPECT_THAT(observer.added, Contains("cut"));
    EXPECT_THAT(cut->broken, HasSubstr("no newline"));
    EXPECT_EQ(cut->state, ContainerState::Stopped);
    EXPECT_EQ(toJson(*cut, false).at("Broken"), cut->broken);

    auto started = perform(Verb::Start, "cut", root);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(started.error().what(), HasSubstr("broken conf"));
    EXPECT_THAT(started.error().what(), HasSubstr("no newline"));
    EXPECT_TRUE(systemd.started.empty());
    SpecPatch patch;
    patch.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    EXPECT_EQ(update("cut", patch, root).error().code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(create("cut", systemSpec(), root).error().code(), ErrorCode::AlreadyExists);

    ASSERT_TRUE(perform(Verb::Destroy, "cut", root).ok());
    EXPECT_EQ(service.find("cut"), nullptr);
    EXPECT_FALSE(fs::exists(settings.configDir / "cut.conf"));
}

}  // namespace
}  // namespace nixos_containers
