// Rollback: the profile's previous generation, the conf's SystemPath with
// it, a reload when the container runs (rollback_verb.cpp), against the fakes.
#include "conf_file.h"
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using RollbackVerbTest = ContainerManagerTest;

TEST_F(RollbackVerbTest, GoesBackOneGenerationTakesTheConfAlongAndReloadsARunningContainer) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    const auto first = (settings.storeDir / "abc-system").string();
    const auto second = settings.storeDir / "def-system";
    fs::create_directories(second);
    std::ofstream(second / "init") << "#!/bin/sh\n";
    SpecPatch system;
    system.set("SystemPath", [&second](ContainerSpec& spec) { spec.systemPath = second.string(); });
    ASSERT_TRUE(update("web", system, root).ok());
    ASSERT_EQ(manager().get("web").generations.size(), 2U);
    EXPECT_TRUE(manager().get("web").generations[1].current);

    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    processes.requests.clear();
    auto rolledBack = perform(Verb::Rollback, "web", root);
    ASSERT_TRUE(rolledBack.ok()) << rolledBack.error().what();
    const auto& web = manager().get("web");
    // As a store path, the way SystemPath is given.
    EXPECT_EQ(web.spec.systemPath, "/nix/store/abc-system");
    EXPECT_EQ(web.systemOnHost, first);
    ASSERT_EQ(web.generations.size(), 2U);
    EXPECT_TRUE(web.generations[0].current);
    EXPECT_FALSE(web.generations[1].current);
    // The conf says so too: a restarted service runs the same system.
    std::ifstream conf(settings.configDir / "web.conf");
    std::string text((std::istreambuf_iterator<char>(conf)), std::istreambuf_iterator<char>());
    EXPECT_THAT(text, ::testing::HasSubstr("SYSTEM_PATH=/nix/store/abc-system\n"));
    // Running: switch-to-configuration of the system rolled back to.
    ASSERT_EQ(processes.requests.size(), 1U);
    EXPECT_EQ(processes.requests[0].argv.at(0), "/nix/store/abc-system/bin/switch-to-configuration");

    auto again = perform(Verb::Rollback, "web", root);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(again.error().what(), ::testing::HasSubstr("no generation older than the current one (1)"));
}

TEST_F(RollbackVerbTest, IsAuthorisedAsAnUpdateWithItsOwnVerb) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    authorizer.answers[user.uid] = Authorization::Denied;
    auto refused = perform(Verb::Rollback, "web", user);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::AccessDenied);
    ASSERT_FALSE(authorizer.checks.empty());
    EXPECT_EQ(authorizer.checks.back().first, "org.nixos.containers.update");
    EXPECT_EQ(authorizer.checks.back().second.at("verb"), "rollback");
}

}  // namespace
}  // namespace nixos_containers
