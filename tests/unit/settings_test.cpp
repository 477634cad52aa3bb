#include "settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace nixos_containers {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(Settings, DefaultsFollowCurrentNixos) {
    Settings settings = Settings::fromEnvironment({});
    EXPECT_EQ(settings.configDir, "/etc/nixos-containers");
    EXPECT_EQ(settings.stateDir, "/var/lib/nixos-containers");
    EXPECT_EQ(settings.runtimeDir, "/run/nixos-containers");
    EXPECT_EQ(settings.profilesDir, "/nix/var/nix/profiles/per-container");
    EXPECT_EQ(settings.gcrootsDir, "/nix/var/nix/gcroots/per-container");
    EXPECT_EQ(settings.storeDir, "/nix/store");
    EXPECT_EQ(settings.nixStateDir, "/nix/var/nix");
    EXPECT_EQ(settings.nspawn, "/usr/bin/systemd-nspawn");
    EXPECT_EQ(settings.resolvConf, "/etc/resolv.conf");
    ASSERT_EQ(settings.declarativeUnitDirs.size(), 1u);
    EXPECT_EQ(settings.declarativeUnitDirs[0], "/etc/systemd/system");
    EXPECT_EQ(settings.maxOperations, 64u);
    EXPECT_EQ(settings.maxRuns, 64u);
    EXPECT_EQ(settings.reloadTimeoutSec, 300u);
    EXPECT_EQ(settings.maxRunsPerUser, 16u);
}

TEST(Settings, TheRunBoundPerUserIsAPositiveCount) {
    EXPECT_EQ(Settings::fromEnvironment({{"NIXOS_CONTAINERS_MAX_RUNS_PER_USER", "3"}}).maxRunsPerUser, 3u);
    EXPECT_THROW(Settings::fromEnvironment({{"NIXOS_CONTAINERS_MAX_RUNS_PER_USER", "0"}}),
                 std::invalid_argument);
}

TEST(Settings, TheReloadTimeoutIsAPositiveNumberOfSeconds) {
    EXPECT_EQ(Settings::fromEnvironment({{"NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC", "5"}}).reloadTimeoutSec, 5u);
    EXPECT_THROW(Settings::fromEnvironment({{"NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC", "0"}}),
                 std::invalid_argument);
    EXPECT_THROW(Settings::fromEnvironment({{"NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC", "5s"}}),
                 std::invalid_argument);
}

TEST(Settings, BuildsGetNixsOwnVariablesAndNothingElse) {
    Settings settings = Settings::fromEnvironment({
        {"PATH", "/usr/bin"},
        {"NIX_CONF_DIR", "/t/nix-conf"},
        {"NIX_PATH", "nixpkgs=/t/nixpkgs"},
        {"XDG_CACHE_HOME", "/t/cache"},
        {"DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/t/bus"},
        {"NIXOS_CONTAINERS_STATE_DIR", "/t/state"},
        {"CREDENTIALS_DIRECTORY", "/run/credentials/x"},
    });
    EXPECT_THAT(settings.builderEnvironment,
                ElementsAre("PATH=/usr/bin", "XDG_CACHE_HOME=/t/cache", "NIX_CONF_DIR=/t/nix-conf",
                            "NIX_PATH=nixpkgs=/t/nixpkgs"));
    EXPECT_THAT(Settings::fromEnvironment({}).builderEnvironment, IsEmpty());
}

TEST(Settings, ReadsEveryVariable) {
    Settings settings = Settings::fromEnvironment({
        {"NIXOS_CONTAINERS_CONFIG_DIR", "/t/etc"},
        {"NIXOS_CONTAINERS_STATE_DIR", "/t/state"},
        {"NIXOS_CONTAINERS_RUNTIME_DIR", "/t/run"},
        {"NIXOS_CONTAINERS_PROFILES_DIR", "/t/profiles"},
        {"NIXOS_CONTAINERS_GCROOTS_DIR", "/t/gcroots"},
        {"NIXOS_CONTAINERS_STORE_DIR", "/t/store/"},
        {"NIXOS_CONTAINERS_NIX_STATE_DIR", "/t/nix"},
        {"NIXOS_CONTAINERS_NSPAWN", "/t/bin/nspawn"},
        {"NIXOS_CONTAINERS_NIX_BIN_DIR", "/t/bin"},
        {"NIXOS_CONTAINERS_RESOLV_CONF", "/t/resolv.conf"},
        {"NIXOS_CONTAINERS_NIXOS_PATH", "/t/nixpkgs/nixos/"},
        {"NIXOS_CONTAINERS_DECLARATIVE_UNIT_DIRS", "/t/units:/t/more-units::"},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", "3"},
        {"NIXOS_CONTAINERS_MAX_RUNS", "5"},
        {"NIXOS_CONTAINERS_MAX_PER_USER", "4"},
        {"NIXOS_CONTAINERS_CONFINED_BIND_ROOTS", "/srv/shared:/t/data"},
        {"UNRELATED", "ignored"},
    });
    EXPECT_EQ(settings.configDir, "/t/etc");
    EXPECT_EQ(settings.stateDir, "/t/state");
    EXPECT_EQ(settings.runtimeDir, "/t/run");
    EXPECT_EQ(settings.profilesDir, "/t/profiles");
    EXPECT_EQ(settings.gcrootsDir, "/t/gcroots");
    // Paths are normalised: a trailing slash does not matter.
    EXPECT_EQ(settings.storeDir, std::filesystem::path("/t/store/").lexically_normal());
    EXPECT_EQ(settings.nixStateDir, "/t/nix");
    EXPECT_EQ(settings.nspawn, "/t/bin/nspawn");
    EXPECT_EQ(settings.nixBinDir, "/t/bin");
    EXPECT_EQ(settings.resolvConf, "/t/resolv.conf");
    EXPECT_EQ(settings.nixosPath, "/t/nixpkgs/nixos/");
    EXPECT_EQ(Settings::fromEnvironment({{"NIXOS_CONTAINERS_NIXOS_PATH", "<nixos>"}}).nixosPath, "<nixos>");
    EXPECT_EQ(Settings{}.nixosPath, "<nixpkgs/nixos>");
    EXPECT_EQ(settings.declarativeUnitDirs,
              (std::vector<std::filesystem::path>{"/t/units", "/t/more-units"}));
    EXPECT_EQ(settings.maxOperations, 3u);
    EXPECT_EQ(settings.maxRuns, 5u);
    EXPECT_EQ(settings.maxContainersPerUser, 4u);
    EXPECT_EQ(settings.confinedBindRoots, (std::vector<std::filesystem::path>{"/srv/shared", "/t/data"}));
}

TEST(Settings, NoPerUserCapUnlessSetAndZeroMeansNone) {
    EXPECT_EQ(Settings{}.maxContainersPerUser, 0u);
    EXPECT_EQ(Settings::fromEnvironment({{"NIXOS_CONTAINERS_MAX_PER_USER", "0"}}).maxContainersPerUser, 0u);
}

TEST(Settings, EmptyUnitDirListMeansNone) {
    Settings settings = Settings::fromEnvironment({{"NIXOS_CONTAINERS_DECLARATIVE_UNIT_DIRS", ""}});
    EXPECT_TRUE(settings.declarativeUnitDirs.empty());
}

struct BadSetting {
    std::string variable;
    std::string value;
};

TEST(Settings, RejectsBadValuesNamingTheVariable) {
    const std::vector<BadSetting> cases = {
        {"NIXOS_CONTAINERS_CONFIG_DIR", "relative/dir"},
        {"NIXOS_CONTAINERS_STATE_DIR", ""},
        {"NIXOS_CONTAINERS_STORE_DIR", "nix/store"},
        {"NIXOS_CONTAINERS_NSPAWN", "systemd-nspawn"},
        {"NIXOS_CONTAINERS_RESOLV_CONF", "~/resolv.conf"},
        {"NIXOS_CONTAINERS_NIXOS_PATH", "nixpkgs/nixos"},
        {"NIXOS_CONTAINERS_DECLARATIVE_UNIT_DIRS", "/ok:relative"},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", "0"},
        {"NIXOS_CONTAINERS_MAX_RUNS", "0"},
        {"NIXOS_CONTAINERS_MAX_RUNS", "ten"},
        {"NIXOS_CONTAINERS_MAX_PER_USER", "-1"},
        {"NIXOS_CONTAINERS_MAX_PER_USER", "four"},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", "-1"},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", "ten"},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", "10x"},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", ""},
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", "99999999999999999999999"},
    };
    for (const auto& [variable, value] : cases) {
        SCOPED_TRACE(variable + "=" + value);
        try {
            Settings::fromEnvironment({{variable, value}});
            ADD_FAILURE() << "accepted";
        } catch (const std::invalid_argument& error) {
            EXPECT_NE(std::string(error.what()).find(variable), std::string::npos) << error.what();
        }
    }
}

}  // namespace
}  // namespace nixos_containers
