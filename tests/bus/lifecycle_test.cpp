// Start, Stop, Restart, Terminate, Reload, Update and Destroy against the
// fake systemd and machined: what the service asks of them, and what state
// it reports back.
#include "bus_fixture.h"

#include <gmock/gmock.h>

#include <algorithm>

namespace bus_tests {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

using Ports = std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>>;
using Binds = std::vector<sdbus::Struct<std::string, std::string, bool>>;
using Devices = std::vector<sdbus::Struct<std::string, std::string>>;
using Strings = std::vector<std::string>;

// True when `words` appear in argv one after another.
bool hasSequence(const Strings& argv, const Strings& words) {
    return std::search(argv.begin(), argv.end(), words.begin(), words.end()) != argv.end();
}

std::size_t countCalls(const Strings& calls, const std::string& call) {
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), call));
}

using LifecycleTest = BusTest;

TEST_F(LifecycleTest, StartAsksSystemdForTheUnitTheModuleDescribes) {
    // Start checks that a bind's host path exists (issue 16).
    const auto data = storeDir().parent_path() / "srv-data";
    fs::create_directories(data);
    create("web", {{"SystemPath", sdbus::Variant(system().string())},
                   {"PrivateNetwork", sdbus::Variant(true)},
                   {"ForwardPorts", sdbus::Variant(Ports{{"tcp", 8080, 80}})},
                   {"BindMounts", sdbus::Variant(Binds{{"/data", data.string(), true}})},
                   {"Tmpfs", sdbus::Variant(Strings{"/var/tmp"})},
                   {"AdditionalCapabilities", sdbus::Variant(Strings{"CAP_SYS_TIME"})},
                   {"AllowedDevices", sdbus::Variant(Devices{{"/dev/fuse", "rwm"}})},
                   {"EnableTun", sdbus::Variant(true)},
                   {"TimeoutStartSec", sdbus::Variant(std::string("2min"))},
                   {"ExtraFlags", sdbus::Variant(Strings{"--quiet"})}});
    // A registration of ours a crash left behind (nixpkgs #486775).
    peers().addMachine("web", "nixos-container@web.service", 4999);
    verb("Start", "web");

    auto units = peers().transientUnits();
    ASSERT_EQ(units.size(), 1U);
    const auto& unit = units.front();
    EXPECT_EQ(unit.unit, "nixos-container@web.service");
    EXPECT_EQ(unit.mode, "fail");
    EXPECT_EQ(unit.type, "notify");
    EXPECT_EQ(unit.notifyAccess, "all");
    EXPECT_EQ(unit.slice, "machine.slice");
    EXPECT_EQ(unit.killMode, "mixed");
    EXPECT_EQ(unit.killSignal, 15);  // the module's KillSignal=TERM; nspawn forwards SIGRTMIN+3
    EXPECT_TRUE(unit.delegate);
    EXPECT_THAT(unit.successExitStatus, ElementsAre(133));
    EXPECT_THAT(unit.restartForceExitStatus, ElementsAre(133));
    EXPECT_EQ(unit.timeoutStartUSec, 120'000'000U);
    EXPECT_EQ(unit.devicePolicy, "closed");
    EXPECT_THAT(unit.deviceAllow, Contains(Pair("/dev/fuse", "rwm")));
    EXPECT_THAT(unit.deviceAllow, Contains(Pair("/dev/net/tun", "rw")));
    EXPECT_THAT(unit.requiresMountsFor, ElementsAre((stateDir() / "web").string()));
    // nspawn must reach the same (private) bus as the service.
    EXPECT_THAT(unit.environment, Contains("DBUS_SYSTEM_BUS_ADDRESS=" + address()));

    const auto& argv = unit.execStart;
    ASSERT_FALSE(argv.empty());
    EXPECT_EQ(unit.execPath, "/usr/bin/systemd-nspawn");
    EXPECT_EQ(argv.front(), "/usr/bin/systemd-nspawn");
    EXPECT_TRUE(hasSequence(argv, {"--keep-unit", "-M", "web", "-D", (stateDir() / "web").string()}));
    for (const auto& word :
         Strings{"--notify-ready=yes", "--kill-signal=SIGRTMIN+3",
                 "--bind-ro=" + storeDir().string() + ":/nix/store",
                 "--bind=" + (profilesDir() / "web").string() + ":/nix/var/nix/profiles",
                 "--bind=" + (gcrootsDir() / "web").string() + ":/nix/var/nix/gcroots",
                 "--network-namespace-path=" + (runtimeDir() / "netns" / "web").string(),
                 "--port=tcp:8080:80", "--bind-ro=" + data.string() + ":/data", "--tmpfs=/var/tmp",
                 "--capability=CAP_SYS_TIME,CAP_NET_ADMIN", "--quiet", "--link-journal=try-guest"}) {
        EXPECT_THAT(argv, Contains(word));
    }
    EXPECT_TRUE(hasSequence(argv, {"--setenv", "LOCAL_ADDRESS=10.233.0.2"}));
    EXPECT_THAT(argv, Not(Contains("--ephemeral")));
    EXPECT_EQ(argv.back(), inStore(system()) + "/init");

    // The module's pre-start: a stale machine terminated, a failed unit reset,
    // before the unit is started.
    auto calls = peers().managerCalls();
    auto terminate = std::find(calls.begin(), calls.end(), "TerminateMachine web");
    auto start = std::find(calls.begin(), calls.end(), "StartTransientUnit nixos-container@web.service");
    EXPECT_LT(terminate, start);
    EXPECT_THAT(calls, Contains("ResetFailedUnit nixos-container@web.service"));
    EXPECT_EQ(readText(stateDir() / "web" / "etc" / "resolv.conf"), "nameserver 192.0.2.53\n");

    EXPECT_EQ(state("web"), "running");
    EXPECT_EQ(property<std::uint32_t>("web", "Leader"), peers().machineLeader("web"));
    EXPECT_NE(property<std::uint32_t>("web", "Leader"), 0U);
    // The host end of the veth exists in the service's (throwaway) namespace.
    auto hostInterface = property<std::string>("web", "HostInterface");
    ASSERT_FALSE(hostInterface.empty());
    EXPECT_THAT(serviceLinks(), HasSubstr(hostInterface + "@"));
}

TEST_F(LifecycleTest, EphemeralRunsOnAThrowAwayRoot) {
    create("tmp", {{"SystemPath", sdbus::Variant(system().string())}, {"Ephemeral", sdbus::Variant(true)}});
    verb("Start", "tmp");
    auto units = peers().transientUnits();
    ASSERT_EQ(units.size(), 1U);
    EXPECT_THAT(units[0].execStart, Contains("--ephemeral"));
    EXPECT_THAT(units[0].execStart, Not(Contains("--link-journal=try-guest")));
    EXPECT_TRUE(hasSequence(units[0].execStart, {"-D", (runtimeDir() / "roots" / "tmp").string()}));
    EXPECT_THAT(units[0].execStart, Not(Contains(::testing::StartsWith("--network-namespace-path"))));
    verb("Stop", "tmp");
    // The throw-away root goes with the container.
    EXPECT_FALSE(fs::exists(runtimeDir() / "roots" / "tmp"));
}

TEST_F(LifecycleTest, StateGoesStartingThenRunningThroughSignals) {
    createSimple("web");
    peers().holdStartJobs();
    auto started = verbAsync("Start", "web");
    ASSERT_TRUE(waitUntil([&] { return peers().heldStartJobs() == 1; }));
    EXPECT_EQ(state("web"), "starting");
    EXPECT_EQ(inspect("web")["Operation"], "start");
    peers().releaseStartJobs();
    ASSERT_EQ(started.wait_for(10s), std::future_status::ready);
    auto error = started.get();
    EXPECT_FALSE(error) << error->name << ": " << error->message;
    EXPECT_EQ(state("web"), "running");
    EXPECT_TRUE(
        waitUntil([&] { return !stateChanges("web").empty() && stateChanges("web").back() == "running"; }));
    EXPECT_THAT(stateChanges("web"), ElementsAre("starting", "running"));
    EXPECT_EQ(property<std::uint32_t>("web", "Leader"), peers().machineLeader("web"));
}

TEST_F(LifecycleTest, FailedJobIsStartFailedWithTheUnitsResult) {
    createSimple("web");
    peers().setStartResult("failed");
    EXPECT_TRUE(failsWith([&] { verb("Start", "web"); }, kStartFailed, "job failed"));
    auto error = errorOf([&] { verb("Start", "web"); });
    ASSERT_TRUE(error);
    EXPECT_THAT(error->message, HasSubstr("result 'exit-code'"));
    EXPECT_EQ(state("web"), "failed");
    EXPECT_EQ(property<std::uint32_t>("web", "Leader"), 0U);
    EXPECT_THAT(inspect("web")["LastError"].get<std::string>(), HasSubstr("job failed"));

    // Stop forgets the failure, as systemctl reset-failed does.
    verb("Stop", "web");
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_EQ(peers().unitActiveState("nixos-container@web.service"), "inactive");
}

TEST_F(LifecycleTest, TimedOutJobIsStartFailedNamingTheTimeout) {
    createSimple("web");
    peers().setStartResult("timeout");
    EXPECT_TRUE(failsWith([&] { verb("Start", "web"); }, kStartFailed, "result 'timeout'"));
    EXPECT_EQ(state("web"), "failed");
}

TEST_F(LifecycleTest, StopRestartAndTerminate) {
    createSimple("web");
    verb("Start", "web");
    ASSERT_EQ(state("web"), "running");

    verb("Stop", "web");
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_EQ(property<std::uint32_t>("web", "Leader"), 0U);
    EXPECT_FALSE(peers().hasMachine("web"));
    EXPECT_EQ(countCalls(peers().managerCalls(), "StopUnit nixos-container@web.service"), 1U);
    // Stopping a stopped container succeeds, and still asks systemd: the
    // service never acts on a belief it did not check (Destroy relies on it).
    verb("Stop", "web");
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_EQ(countCalls(peers().managerCalls(), "StopUnit nixos-container@web.service"), 2U);

    verb("Start", "web");
    verb("Restart", "web");
    EXPECT_EQ(state("web"), "running");
    EXPECT_EQ(peers().transientUnits().size(), 3U);
    EXPECT_EQ(countCalls(peers().managerCalls(), "StopUnit nixos-container@web.service"), 3U);

    auto terminatesBefore = countCalls(peers().managerCalls(), "TerminateMachine web");
    verb("Terminate", "web");
    EXPECT_EQ(countCalls(peers().managerCalls(), "TerminateMachine web"), terminatesBefore + 1);
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_FALSE(peers().hasMachine("web"));
    EXPECT_THAT(stateChanges("web"), Contains("stopping"));
}

TEST_F(LifecycleTest, StopReleasesTheHostSideOfThePrivateNetwork) {
    create("web",
           {{"SystemPath", sdbus::Variant(system().string())}, {"PrivateNetwork", sdbus::Variant(true)}});
    verb("Start", "web");
    auto hostInterface = property<std::string>("web", "HostInterface");
    ASSERT_THAT(serviceLinks(), HasSubstr(hostInterface + "@"));
    verb("Stop", "web");
    // Deleted right after Stop answers, in the container's background order.
    EXPECT_TRUE(waitUntil([&] { return serviceLinks().find(hostInterface + "@") == std::string::npos; }))
        << serviceLinks();
}

TEST_F(LifecycleTest, FailedStartReleasesTheHostSideOfThePrivateNetwork) {
    create("web",
           {{"SystemPath", sdbus::Variant(system().string())}, {"PrivateNetwork", sdbus::Variant(true)}});
    peers().setStartResult("failed");
    auto hostInterface = property<std::string>("web", "HostInterface");
    ASSERT_FALSE(hostInterface.empty());
    EXPECT_TRUE(failsWith([&] { verb("Start", "web"); }, kStartFailed, "job failed"));
    EXPECT_THAT(serviceLinks(), Not(HasSubstr(hostInterface + "@")));
    // And a later start can make it again.
    peers().setStartResult("done");
    verb("Start", "web");
    EXPECT_THAT(serviceLinks(), HasSubstr(hostInterface + "@"));
}

TEST_F(LifecycleTest, ReloadOfAStoppedContainerIsNotRunning) {
    createSimple("web");
    EXPECT_TRUE(failsWith([&] { verb("Reload", "web"); }, kNotRunning, "container 'web' is not running"));
}

TEST_F(LifecycleTest, DestroyRemovesEverything) {
    create("web",
           {{"SystemPath", sdbus::Variant(system().string())}, {"PrivateNetwork", sdbus::Variant(true)}});
    verb("Start", "web");
    ASSERT_TRUE(fs::exists(stateDir() / "web"));
    verb("Destroy", "web");
    EXPECT_THAT(peers().managerCalls(), Contains("StopUnit nixos-container@web.service"));
    for (const auto& path :
         {confFile("web"), stateDir() / "web", profilesDir() / "web", gcrootsDir() / "web"}) {
        EXPECT_FALSE(fs::exists(fs::symlink_status(path))) << path;
    }
    EXPECT_TRUE(waitUntil([&] { return sawSignal("ContainerRemoved", "web"); }));
    EXPECT_TRUE(list().empty());
    EXPECT_TRUE(failsWith([&] { verb("GetContainer", "web"); }, kNoSuchContainer, "'web'"));
    // The addresses are free again.
    create("next",
           {{"SystemPath", sdbus::Variant(system().string())}, {"PrivateNetwork", sdbus::Variant(true)}});
    EXPECT_EQ(readConf("next")["HOST_ADDRESS"], "10.233.0.1");
}

TEST_F(LifecycleTest, UpdateOfAStoppedContainerRewritesTheConfOnly) {
    createSimple("web");
    auto newer = makeSystem("nixos-system-web-2");
    update("web", {{"SystemPath", sdbus::Variant(newer.string())}, {"AutoStart", sdbus::Variant(true)}});
    auto conf = readConf("web");
    EXPECT_EQ(conf["SYSTEM_PATH"], newer.string());
    EXPECT_EQ(conf["AUTO_START"], "1");
    EXPECT_EQ(fs::canonical(profilesDir() / "web" / "system"), fs::canonical(newer));
    EXPECT_EQ(property<std::string>("web", "SystemPath"), newer.string());
    EXPECT_TRUE(property<bool>("web", "AutoStart"));
    EXPECT_TRUE(peers().transientUnits().empty());
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_TRUE(waitUntil([&] {
        auto all = signals();
        return std::any_of(all.begin(), all.end(), [&](const RecordedSignal& s) {
            return s.path == containerPath("web") && s.changedText.contains("SystemPath") &&
                   s.changedText.at("SystemPath") == newer.string();
        });
    }));
}

TEST_F(LifecycleTest, UpdateOfPrivateNetworkWhileRunningRestarts) {
    createSimple("web");
    verb("Start", "web");
    ASSERT_EQ(peers().transientUnits().size(), 1U);
    update("web", {{"PrivateNetwork", sdbus::Variant(true)}});
    auto units = peers().transientUnits();
    ASSERT_EQ(units.size(), 2U);
    EXPECT_THAT(units[1].execStart,
                Contains("--network-namespace-path=" + (runtimeDir() / "netns" / "web").string()));
    EXPECT_THAT(units[0].execStart,
                Not(Contains("--network-namespace-path=" + (runtimeDir() / "netns" / "web").string())));
    EXPECT_THAT(peers().managerCalls(), Contains("StopUnit nixos-container@web.service"));
    auto conf = readConf("web");
    EXPECT_EQ(conf["PRIVATE_NETWORK"], "1");
    EXPECT_EQ(conf["HOST_ADDRESS"], "10.233.0.1");
    EXPECT_EQ(state("web"), "running");
}

TEST_F(LifecycleTest, TheContainerObjectServesTheSameVerbs) {
    createSimple("web");
    auto object = sdbus::createProxy(client(), kService, containerPath("web"));
    object->finishRegistration();
    object->callMethod("Start").onInterface(kContainerInterface).withTimeout(20s);
    EXPECT_EQ(state("web"), "running");
    EXPECT_EQ(peers().transientUnits().size(), 1U);
    object->callMethod("Update")
        .onInterface(kContainerInterface)
        .withTimeout(20s)
        .withArguments(Spec{{"AutoStart", sdbus::Variant(true)}});
    EXPECT_EQ(readConf("web")["AUTO_START"], "1");
    object->callMethod("Destroy").onInterface(kContainerInterface).withTimeout(20s);
    EXPECT_FALSE(fs::exists(confFile("web")));
}

}  // namespace
}  // namespace bus_tests
