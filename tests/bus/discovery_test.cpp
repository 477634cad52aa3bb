// What the service finds when it starts: declarative containers, units
// and machines that were already running, and AutoStart containers.
#include "bus_fixture.h"

#include <gmock/gmock.h>

namespace bus_tests {
namespace {

using ::testing::Contains;

class DeclarativeTest : public BusTest {
protected:
    void beforeServiceStart() override {
        // A read-only conf with its NixOS unit, as NixOS writes declarative ones.
        writeText(confFile("ro"), "SYSTEM_PATH=" + system().string() + "\n",
                  fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
        writeText(declarativeUnitDir() / "container@ro.service", "[Service]\n");
        // A conf linked into the store through /etc/static, as environment.etc makes them.
        writeText(storeDir() / "abc-etc" / "linked.conf", "SYSTEM_PATH=" + system().string() + "\n");
        fs::create_directory_symlink(storeDir() / "abc-etc", root_path() / "etc-static");
        fs::create_symlink(root_path() / "etc-static" / "linked.conf", confFile("linked"));
        // A conf with a NixOS unit for it.
        writeText(confFile("unit"), "SYSTEM_PATH=" + system().string() + "\n");
        writeText(declarativeUnitDir() / "container@unit.service", "[Service]\n");
        // An imperative one for contrast.
        writeText(confFile("mine"), "SYSTEM_PATH=" + system().string() + "\n");
    }
    fs::path root_path() const { return configDir().parent_path(); }
};

TEST_F(DeclarativeTest, DeclarativeContainersAreListedAsSuch) {
    std::map<std::string, bool> declarative;
    for (const auto& row : list()) {
        declarative[row.get<0>()] = row.get<2>();
    }
    EXPECT_EQ(declarative,
              (std::map<std::string, bool>{{"linked", true}, {"mine", false}, {"ro", true}, {"unit", true}}));
    EXPECT_TRUE(property<bool>("ro", "Declarative"));
    EXPECT_EQ(property<std::string>("ro", "Unit"), "container@ro.service");
    EXPECT_EQ(inspect("linked")["Declarative"], true);
    EXPECT_FALSE(property<bool>("mine", "Declarative"));
}

TEST_F(DeclarativeTest, UpdateAndDestroyAreRefused) {
    for (const char* name : {"ro", "linked", "unit"}) {
        SCOPED_TRACE(name);
        auto before = readText(confFile(name));
        EXPECT_TRUE(failsWith(
            [&] {
                update(name, {{"AutoStart", sdbus::Variant(true)}});
            },
            kDeclarative, "is declarative"));
        EXPECT_TRUE(failsWith([&] { verb("Destroy", name); }, kDeclarative, "is declarative"));
        EXPECT_EQ(readText(confFile(name)), before);
    }
    EXPECT_TRUE(fs::is_symlink(confFile("linked")));
    EXPECT_EQ(list().size(), 4U);
}

TEST_F(DeclarativeTest, StartUsesTheNixOSUnit) {
    verb("Start", "ro");
    EXPECT_THAT(peers().managerCalls(), Contains("StartUnit container@ro.service"));
    EXPECT_TRUE(peers().transientUnits().empty());
    EXPECT_EQ(state("ro"), "running");
    verb("Stop", "ro");
    EXPECT_THAT(peers().managerCalls(), Contains("StopUnit container@ro.service"));
    EXPECT_EQ(state("ro"), "stopped");
}

class RunningDeclarativeTest : public DeclarativeTest {
protected:
    void beforeServiceStart() override {
        DeclarativeTest::beforeServiceStart();
        // Started by NixOS's own template before the service ran.
        peers().addRunningUnit("container@ro.service", "ro", 777);
    }
};

TEST_F(RunningDeclarativeTest, IsFoundRunningUnderItsTemplateUnit) {
    EXPECT_EQ(state("ro"), "running");
    EXPECT_EQ(property<std::uint32_t>("ro", "Leader"), 777U);
    EXPECT_EQ(property<std::string>("ro", "Unit"), "container@ro.service");
    verb("Stop", "ro");
    EXPECT_THAT(peers().managerCalls(), Contains("StopUnit container@ro.service"));
    EXPECT_EQ(state("ro"), "stopped");
}

class RecoveryTest : public BusTest {
protected:
    void beforeServiceStart() override {
        writeText(confFile("web"), "SYSTEM_PATH=" + system().string() + "\n");
        writeText(confFile("auto"), "SYSTEM_PATH=" + system().string() + "\nAUTO_START=1\n");
        writeText(confFile("idle"), "SYSTEM_PATH=" + system().string() + "\n");
        peers().addRunningUnit("nixos-container@web.service", "web", 4242);
    }
};

TEST_F(RecoveryTest, RunningContainersAreFoundWithTheirLeader) {
    EXPECT_EQ(state("web"), "running");
    EXPECT_EQ(property<std::uint32_t>("web", "Leader"), 4242U);
    EXPECT_EQ(state("idle"), "stopped");
    EXPECT_EQ(property<std::uint32_t>("idle", "Leader"), 0U);
    // Found, not restarted.
    for (const auto& unit : peers().transientUnits()) {
        EXPECT_NE(unit.unit, "nixos-container@web.service");
    }
}

TEST_F(RecoveryTest, AutoStartContainersAreStarted) {
    ASSERT_TRUE(waitUntil([&] { return state("auto") == "running"; }));
    auto units = peers().transientUnits();
    ASSERT_EQ(units.size(), 1U);
    EXPECT_EQ(units[0].unit, "nixos-container@auto.service");
    EXPECT_EQ(state("idle"), "stopped");
}

TEST_F(RecoveryTest, ARestartOfTheServiceLosesNothing) {
    createSimple("new");
    verb("Start", "new");
    const auto leader = property<std::uint32_t>("new", "Leader");
    ASSERT_NE(leader, 0U);
    ASSERT_TRUE(waitUntil([&] { return state("auto") == "running"; }));

    stopService();
    startService();
    EXPECT_EQ(state("new"), "running");
    EXPECT_EQ(property<std::uint32_t>("new", "Leader"), leader);
    EXPECT_EQ(state("web"), "running");
    EXPECT_EQ(state("auto"), "running");
    // Nothing was started twice: auto was running already.
    EXPECT_EQ(peers().transientUnits().size(), 2U);
    // And it can still be stopped through the recovered state.
    verb("Stop", "new");
    EXPECT_EQ(state("new"), "stopped");
}

TEST_F(RecoveryTest, AUnitThatStopsByItselfIsNoticed) {
    createSimple("new");
    verb("Start", "new");
    // As if `poweroff` ran inside: machined forgets it, the unit goes inactive.
    peers().terminateFromOutside("new");
    EXPECT_TRUE(waitUntil([&] { return state("new") == "stopped"; }));
    EXPECT_EQ(property<std::uint32_t>("new", "Leader"), 0U);
}

}  // namespace
}  // namespace bus_tests
