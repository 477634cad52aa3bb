// Create from Config, ConfigFile and Flake through the fake builders in
// NIXOS_CONTAINERS_NIX_BIN_DIR: output as BuildOutput signals, the profile
// linked, and a failed build leaving nothing behind.
#include "bus_fixture.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <mutex>

namespace bus_tests {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using BuildTest = BusTest;

std::vector<std::string> buildLines(const std::vector<RecordedSignal>& all, const std::string& name) {
    std::vector<std::string> lines;
    for (const auto& signal : all) {
        if (signal.member == "BuildOutput" && signal.args.size() == 2 && signal.args[0] == name) {
            lines.push_back(signal.args[1]);
        }
    }
    return lines;
}

TEST_F(BuildTest, ConfigTextIsBuiltWithItsOutputAsSignals) {
    const std::string text = "services.nginx.enable = true;";
    create("web", {{"Config", sdbus::Variant(text)}});

    const auto module = configDir() / "web.nix";
    ASSERT_TRUE(fs::exists(module));
    EXPECT_THAT(readText(module), HasSubstr(text));
    auto lines = buildLines(signals(), "web");
    EXPECT_THAT(lines, Contains("building the system configuration..."));
    EXPECT_THAT(lines, Contains("evaluating " + module.string()));
    EXPECT_THAT(lines, Contains(StartsWith("built " + storeDir().string())));

    auto profile = fs::read_symlink(profilesDir() / "web" / "system");
    EXPECT_EQ(profile.parent_path(), storeDir());
    EXPECT_TRUE(fs::exists(profile / "init"));
    // The text is Inspect's, for those who may see it (root here); the
    // property, which every client reads, never shows it.
    EXPECT_EQ(inspect("web")["Config"], text);
    EXPECT_EQ(property<std::string>("web", "Config"), "");
    EXPECT_EQ(property<std::string>("web", "SystemPath"), profile.string());
    EXPECT_EQ(readConf("web")["CONFIG_TEXT_FILE"], module.string());

    // And it starts from the built system.
    verb("Start", "web");
    EXPECT_EQ(peers().transientUnits().at(0).execStart.back(), inStore(profile) + "/init");
}

// Build output can hold secrets: it goes to the caller whose Create builds,
// not to every client that listens.
TEST_F(BuildTest, BuildOutputReachesOnlyTheCallerWhoseBuildItIs) {
    auto listener = sdbus::createSessionBusConnectionWithAddress(address());
    std::mutex mutex;
    std::vector<std::string> heard;
    auto slot =
        listener->addMatch("type='signal',interface='org.nixos.Containers'", [&](sdbus::Message& message) {
            std::lock_guard lock(mutex);
            heard.push_back(message.getMemberName());
        });
    listener->enterEventLoopAsync();
    create("web", {{"Config", sdbus::Variant(std::string("services.nginx.enable = true;"))}});
    EXPECT_FALSE(buildLines(signals(), "web").empty());  // the caller got them
    // ContainerNew is broadcast after the build: once the listener has it,
    // it has had every signal the service sent before.
    ASSERT_TRUE(waitUntil([&] {
        std::lock_guard lock(mutex);
        return std::find(heard.begin(), heard.end(), "ContainerNew") != heard.end();
    }));
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(std::count(heard.begin(), heard.end(), "BuildOutput"), 0);
    }
    listener->leaveEventLoop();
}

// Config text can hold secrets: Inspect shows it to root, the owner and
// whoever polkit lets update the container; everyone else gets it blank.
TEST_F(BuildTest, ConfigTextIsShownOnlyToThoseWhoMaySeeIt) {
    create("web", {{"Config", sdbus::Variant(std::string("users.users.x.password = \"hunter2\";"))}});
    auto denied = callAs(kDeniedUid, {"Inspect", "web"});
    ASSERT_EQ(denied.exitStatus, 0) << denied.output;
    EXPECT_THAT(denied.output, Not(HasSubstr("hunter2")));
    EXPECT_THAT(denied.output, HasSubstr("\"Config\": \"\""));
    peers().setPolkitAnswer(kAllowedUid, PolkitAnswer::Allow);  // may update it
    auto allowed = callAs(kAllowedUid, {"Inspect", "web"});
    ASSERT_EQ(allowed.exitStatus, 0) << allowed.output;
    EXPECT_THAT(allowed.output, HasSubstr("hunter2"));
    // Nobody reads it from the property or GetAll.
    auto property =
        busctl({"get-property", kService, containerPath("web"), kContainerInterface, "Config"}, kDeniedUid);
    EXPECT_THAT(property.output, Not(HasSubstr("hunter2")));
}

TEST_F(BuildTest, ConfigFileIsBuiltFromThatFile) {
    const auto file = configDir().parent_path() / "modules" / "web.nix";
    writeText(file, "{ ... }: { }\n");
    create("web", {{"ConfigFile", sdbus::Variant(file.string())}});
    EXPECT_THAT(buildLines(signals(), "web"), Contains("evaluating " + file.string()));
    EXPECT_EQ(readConf("web")["CONFIG_FILE"], file.string());
    EXPECT_TRUE(fs::exists(profilesDir() / "web" / "system" / "init"));
    EXPECT_FALSE(fs::exists(configDir() / "web.nix"));
}

TEST_F(BuildTest, FlakeIsBuiltWithNixBuildFromItsContainerConfigurationAsTheOldToolDoes) {
    create("web", {{"Flake", sdbus::Variant(std::string("path:/srv/flake"))}});
    EXPECT_THAT(
        buildLines(signals(), "web"),
        Contains("building path:/srv/flake#nixosConfigurations.\"container\".config.system.build.toplevel"));
    EXPECT_EQ(readConf("web")["FLAKE"], "path:/srv/flake");
    EXPECT_TRUE(fs::exists(profilesDir() / "web" / "system" / "init"));
}

TEST_F(BuildTest, FailedBuildIsBuildFailedWithItsOutputAndLeavesNothing) {
    auto error = errorOf([&] { create("web", {{"Config", sdbus::Variant(std::string("BUILD_FAILS"))}}); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->name, kBuildFailed);
    EXPECT_THAT(error->message, HasSubstr("exited with status 1"));
    EXPECT_THAT(error->message, HasSubstr("undefined variable 'BUILD_FAILS'"));
    // The failing line reached the callers as a signal too.
    EXPECT_TRUE(waitUntil([&] {
        auto lines = buildLines(signals(), "web");
        return std::any_of(lines.begin(), lines.end(),
                           [](const auto& l) { return l.find("BUILD_FAILS") != std::string::npos; });
    }));
    EXPECT_TRUE(leftNothingOf("web"));
    EXPECT_TRUE(fs::is_empty(configDir()));
    // The name is free again.
    createSimple("web");
}

TEST_F(BuildTest, FailedFlakeBuildLeavesNothing) {
    EXPECT_TRUE(failsWith(
        [&] {
            create("web", {{"Flake", sdbus::Variant(std::string("path:/BUILD_FAILS"))}});
        },
        kBuildFailed, "flake has no such output"));
    EXPECT_TRUE(leftNothingOf("web"));
}

TEST_F(BuildTest, UpdateWithNewConfigRebuilds) {
    createSimple("web");
    update("web", {{"Config", sdbus::Variant(std::string("networking.firewall.enable = false;"))}});
    auto conf = readConf("web");
    EXPECT_EQ(conf.count("SYSTEM_PATH"), 0U);
    EXPECT_EQ(conf["CONFIG_TEXT_FILE"], (configDir() / "web.nix").string());
    EXPECT_FALSE(buildLines(signals(), "web").empty());
    EXPECT_NE(fs::read_symlink(profilesDir() / "web" / "system"), system());
}

TEST_F(BuildTest, FailedUpdateBuildKeepsTheOldContainer) {
    createSimple("web");
    auto conf = readText(confFile("web"));
    EXPECT_TRUE(failsWith(
        [&] {
            update("web", {{"Config", sdbus::Variant(std::string("BUILD_FAILS"))}});
        },
        kBuildFailed, "undefined variable"));
    EXPECT_EQ(readText(confFile("web")), conf);
    EXPECT_EQ(property<std::string>("web", "SystemPath"), system().string());
}

}  // namespace
}  // namespace bus_tests
