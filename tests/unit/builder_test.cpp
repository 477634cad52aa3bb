// Builds from Config, ConfigFile and Flake, through the manager, against the fake seams
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

using BuilderTest = ContainerManagerTest;

TEST_F(BuilderTest, FailedBuildLeavesNothingBehind) {
    processes.exitStatus = 1;
    ContainerSpec spec;
    spec.config = "services.nginx.enable = true;";
    auto created = create("web", spec, root);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().code(), ErrorCode::BuildFailed);
    EXPECT_THAT(created.error().what(), HasSubstr("building..."));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.nix"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));
    EXPECT_THAT(observer.buildLines, Contains("building..."));
    // Only to the caller whose Create it is.
    EXPECT_THAT(observer.buildRecipients, ::testing::Each(root.busName));
    EXPECT_FALSE(observer.buildRecipients.empty());
}

TEST_F(BuilderTest, BuildLinksTheProfileTheWayNixosContainerDoes) {
    processes.buildResult = settings.storeDir / "abc-system";
    settings.builderEnvironment = {"PATH=/usr/bin", "NIX_CONF_DIR=/t/nix-conf"};
    ContainerSpec spec;
    spec.config = "services.nginx.enable = true;";
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_EQ(processes.requests.size(), 1U);
    const auto& argv = processes.requests[0].argv;
    EXPECT_EQ(argv[0], (settings.nixBinDir / "nix-env").string());
    EXPECT_EQ(processes.requests[0].environment, settings.builderEnvironment);
    EXPECT_THAT(argv, Contains("nixos-config=" + (settings.configDir / "web.nix").string()));
    EXPECT_EQ(manager().get("web").spec.config, "services.nginx.enable = true;");
}

}  // namespace
}  // namespace nixos_containers
