// Update: the patch is merged into the spec as it is when the update runs
// (after authorisation), saved, then a running container reloads or restarts.
#include "manager_fixture.h"

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

}  // namespace
}  // namespace nixos_containers
