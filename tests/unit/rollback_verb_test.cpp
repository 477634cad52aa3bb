// Rollback: the profile's previous generation, the conf's SystemPath with
// it, a reload when the container runs (rollback_verb.cpp), against the fakes.
#include "conf_file.h"
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>

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

// Three generations (abc, def, ghi), the third current, the container running.
class SwitchGenerationTest : public ContainerManagerTest {
protected:
    void makeThreeGenerations() {
        ASSERT_TRUE(create("web", systemSpec(), root).ok());
        for (const auto* system : {"def-system", "ghi-system"}) {
            const auto path = settings.storeDir / system;
            fs::create_directories(path);
            std::ofstream(path / "init") << "#!/bin/sh\n";
            SpecPatch patch;
            patch.set("SystemPath", [path](ContainerSpec& spec) { spec.systemPath = path.string(); });
            ASSERT_TRUE(update("web", patch, root).ok());
        }
        ASSERT_EQ(manager().get("web").generations.size(), 3U);
        machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
        ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
        processes.requests.clear();
    }

    Status switchTo(std::uint32_t generation, const Caller& caller) {
        std::optional<Status> answer;
        int answers = 0;
        manager().switchGeneration(caller, "web", generation, [&](Status result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Status(ContainerError(ErrorCode::Failed, "no answer")));
    }
};

TEST_F(SwitchGenerationTest, SwitchesToAnyGenerationTakesTheConfAlongAndReloadsARunningContainer) {
    makeThreeGenerations();
    auto switched = switchTo(1, root);
    ASSERT_TRUE(switched.ok()) << switched.error().what();
    const auto& web = manager().get("web");
    EXPECT_EQ(web.spec.systemPath, "/nix/store/abc-system");
    ASSERT_EQ(web.generations.size(), 3U);
    EXPECT_TRUE(web.generations[0].current);
    EXPECT_FALSE(web.generations[2].current);
    ASSERT_EQ(processes.requests.size(), 1U);
    EXPECT_EQ(processes.requests[0].argv.at(0), "/nix/store/abc-system/bin/switch-to-configuration");
    // Forward again, past the one in between.
    ASSERT_TRUE(switchTo(3, root).ok());
    EXPECT_TRUE(manager().get("web").generations[2].current);
    EXPECT_EQ(manager().get("web").spec.systemPath, "/nix/store/ghi-system");
}

TEST_F(SwitchGenerationTest, RefusesAMissingOrTheCurrentGenerationBeforeAuthorization) {
    makeThreeGenerations();
    authorizer.answers[user.uid] = Authorization::Allowed;
    const auto asked = authorizer.checks.size();
    auto missing = switchTo(7, user);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(missing.error().what(), ::testing::HasSubstr("no generation 7; it has 1, 2, 3"));
    auto current = switchTo(3, user);
    ASSERT_FALSE(current.ok());
    EXPECT_EQ(current.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(current.error().what(), ::testing::HasSubstr("runs generation 3 already"));
    EXPECT_EQ(authorizer.checks.size(), asked);
    EXPECT_TRUE(processes.requests.empty());
    EXPECT_TRUE(manager().get("web").generations[2].current);
}

TEST_F(SwitchGenerationTest, IsAuthorisedAsRollbackWithItsVerbAndTheGeneration) {
    makeThreeGenerations();
    authorizer.answers[user.uid] = Authorization::Denied;
    auto refused = switchTo(2, user);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::AccessDenied);
    ASSERT_FALSE(authorizer.checks.empty());
    EXPECT_EQ(authorizer.checks.back().first, verbRow(Verb::Rollback).policy.action);
    EXPECT_EQ(authorizer.checks.back().second.at("verb"), "switch-generation");
    EXPECT_EQ(authorizer.checks.back().second.at("generation"), "2");
    EXPECT_TRUE(manager().get("web").generations[2].current);
    authorizer.answers[user.uid] = Authorization::Allowed;
    EXPECT_TRUE(switchTo(2, user).ok());
    EXPECT_TRUE(manager().get("web").generations[1].current);
}

TEST_F(SwitchGenerationTest, ADeclarativeContainerRefusesIt) {
    makeThreeGenerations();
    fs::path conf = settings.configDir / "web.conf";
    std::ofstream(conf, std::ios::app) << kDeclarativeConfKey << "=1\n";
    manager_.reset();
    ASSERT_NE(manager().find("web"), nullptr);
    ASSERT_TRUE(manager().get("web").declarative);
    auto refused = switchTo(1, root);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::Declarative);
}

}  // namespace
}  // namespace nixos_containers
