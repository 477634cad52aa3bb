// NixFlags: nixos-container's pass-through flags, parsed as Nix parses them,
// and where the builder puts them (nix_flags.h, builder.cpp).
#include "nix_flags.h"
#include "expect_error.h"
#include "manager_fixture.h"
#include "spec_validation.h"
#include "validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

using ::testing::ElementsAre;

ContainerSpec flake(std::vector<std::string> flags) {
    ContainerSpec spec;
    spec.flake = "path:/srv/flake";
    spec.nixFlags = std::move(flags);
    return spec;
}

TEST(NixFlags, TheFlagsOfTheOldToolPassWithTheirValues) {
    EXPECT_NO_THROW(validateNixFlags(flake({"--impure", "--option", "cores", "2", "--override-input",
                                            "nixpkgs", "path:/srv/nixpkgs", "--no-write-lock-file"}),
                                     Settings{}));
    ContainerSpec config;
    config.config = "{ }";
    config.nixFlags = {"--option", "sandbox", "true", "--show-trace"};
    EXPECT_NO_THROW(validateNixFlags(config, Settings{}));
}

TEST(NixFlags, AnythingElseIsRefusedNamingTheWord) {
    expectInvalid(
        [] {
            validateNixFlags(flake({"--store", "/x"}), Settings{});
        },
        "NixFlags '--store' is not one of nixos-container's pass-through flags");
    expectInvalid([] { validateNixFlags(flake({"--impur"}), Settings{}); }, "'--impur' is not one of");
    expectInvalid(
        [] {
            validateNixFlags(flake({"--option", "cores"}), Settings{});
        },
        "NixFlags '--option' needs 2 values");
    // A value that is a flag would be read as that flag by Nix.
    expectInvalid(
        [] {
            validateNixFlags(flake({"--update-input", "--impure"}), Settings{});
        },
        "'--update-input' is followed by '--impure' where it needs a value");
    ContainerSpec config;
    config.config = "{ }";
    config.nixFlags = {"--impure"};
    expectInvalid([&config] { validateNixFlags(config, Settings{}); }, "a flag of `nix build`: only a Flake");
    ContainerSpec fixed;
    fixed.systemPath = "/nix/store/abc-system";
    fixed.nixFlags = {"--show-trace"};
    expectInvalid([&fixed] { validateNixFlags(fixed, Settings{}); }, "this container has none");
}

using NixFlagsBuildTest = ContainerManagerTest;

TEST_F(NixFlagsBuildTest, TheyReachTheBuilderWhereNixParsesThem) {
    processes.buildResult = settings.storeDir / "abc-system";
    ContainerSpec spec;
    spec.config = "{ }";
    spec.nixFlags = {"--option", "cores", "2"};
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_EQ(processes.requests.size(), 1U);
    const auto& argv = processes.requests[0].argv;
    ASSERT_GE(argv.size(), 4U);
    EXPECT_THAT(std::vector<std::string>(argv.begin() + 1, argv.begin() + 4),
                ElementsAre("--option", "cores", "2"));
    EXPECT_THAT(argv, ::testing::Contains("<nixpkgs/nixos>"));  // the default NixosPath
}

TEST_F(NixFlagsBuildTest, AFlakesFlagsGoAfterBuildBeforeTheInstallable) {
    processes.buildResult = settings.storeDir / "abc-system";
    ASSERT_TRUE(create("web", flake({"--impure"}), root).ok());
    ASSERT_EQ(processes.requests.size(), 1U);
    const auto& argv = processes.requests[0].argv;
    ASSERT_GE(argv.size(), 7U);
    EXPECT_EQ(argv[1], "build");
    EXPECT_THAT(
        std::vector<std::string>(argv.end() - 3, argv.end()),
        ElementsAre("--impure", "--",
                    "path:/srv/flake#nixosConfigurations.\"container\".config.system.build.toplevel"));
}

TEST_F(NixFlagsBuildTest, NixosPathIsWhatNixEnvEvaluates) {
    processes.buildResult = settings.storeDir / "abc-system";
    const auto nixos = settings.stateDir.parent_path() / "nixpkgs/nixos";
    std::filesystem::create_directories(nixos);
    ContainerSpec spec;
    spec.config = "{ }";
    spec.nixosPath = nixos.string();
    ASSERT_TRUE(create("web", spec, root).ok());
    const auto& argv = processes.requests.at(0).argv;
    auto f = std::find(argv.begin(), argv.end(), "-f");
    ASSERT_NE(f, argv.end());
    EXPECT_EQ(*(f + 1), nixos.string());
    ContainerSpec fixed;
    fixed.systemPath = (settings.storeDir / "abc-system").string();
    fixed.nixosPath = nixos.string();
    expectInvalid([&] { validateSpec(fixed, settings); },
                  "NixosPath is what a Config or ConfigFile is built with");
}

}  // namespace
}  // namespace nixos_containers
