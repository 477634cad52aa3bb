// Restart: stop, then start; a Stop in between keeps the start half from running, against the fake seams
// (tests/support/fake_seams.h). The same behaviours run against the real programs in tests/bus and
// tests/sandbox.
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

using RestartVerbTest = ContainerManagerTest;

TEST_F(RestartVerbTest, AStopDuringARestartCancelsTheStartHalf) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    const auto startsBefore = systemd.started.size();
    // The Stop comes while the Restart still stops: its start half has not begun.
    auto [restarted, stopped] = performRacing(Verb::Restart, Verb::Stop, "web");
    ASSERT_TRUE(restarted.has_value());
    EXPECT_EQ(restarted->error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(restarted->error().what(), HasSubstr("the restart of 'web' was cancelled by a stop"));
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok());
    EXPECT_EQ(systemd.started.size(), startsBefore);  // never started again
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

TEST_F(RestartVerbTest, AStopDuringTheRestartOfADeclarativeContainerStartsNothing) {
    fs::create_directories(settings.configDir);
    std::ofstream(settings.configDir / "decl.conf")
        << "SYSTEM_PATH=" << (settings.storeDir / "abc-system").string() << "\n";
    fs::permissions(settings.configDir / "decl.conf", fs::perms::owner_read | fs::perms::group_read);
    fs::create_directories(settings.declarativeUnitDirs[0]);
    std::ofstream(settings.declarativeUnitDirs[0] / "container@decl.service") << "[Service]\n";
    systemd.units["container@decl.service"] = {"active", "running", ""};
    machines.machines["decl"] = {"decl", "container@decl.service", 77, "", 0};
    ASSERT_TRUE(manager().get("decl").declarative);
    auto [restarted, stopped] = performRacing(Verb::Restart, Verb::Stop, "decl");
    ASSERT_TRUE(restarted.has_value());
    EXPECT_EQ(restarted->error().code(), ErrorCode::StartFailed);
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok());
    EXPECT_TRUE(systemd.startedUnits.empty());  // its start half never ran
}

}  // namespace
}  // namespace nixos_containers
