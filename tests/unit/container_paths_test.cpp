// containerPaths and locateSystem build their paths as strings; they must
// give what std::filesystem's operator/ and lexical operations give.
#include "container_paths.h"
#include "errors.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <optional>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;

ContainerPaths referencePaths(const Settings& settings, const std::string& name, bool ephemeral) {
    ContainerPaths paths;
    paths.confFile = settings.configDir / (name + ".conf");
    paths.configTextFile = settings.configDir / (name + ".nix");
    paths.root = ephemeral ? settings.runtimeDir / "roots" / name : settings.stateDir / name;
    paths.profileDir = settings.profilesDir / name;
    paths.systemLink = paths.profileDir / "system";
    paths.gcrootsDir = settings.gcrootsDir / name;
    paths.netnsPin = settings.runtimeDir / "netns" / name;
    return paths;
}

fs::path referenceBelow(const fs::path& path, const fs::path& base) {
    auto relative = path.lexically_normal().lexically_relative(base.lexically_normal());
    if (relative.empty() || *relative.begin() == ".." || relative == ".") {
        return {};
    }
    return relative;
}

// The lexical part of locateSystem as it was written with std::filesystem.
std::optional<SystemLocation> referenceLocation(const Settings& settings, const fs::path& systemPath) {
    auto inStore = referenceBelow(systemPath, settings.storeDir);
    if (inStore.empty()) {
        inStore = referenceBelow(systemPath, "/nix/store");
    }
    if (inStore.empty()) {
        return std::nullopt;
    }
    return SystemLocation{settings.storeDir / inStore, fs::path("/nix/store") / inStore};
}

void expectSamePaths(const Settings& settings, const std::string& name) {
    for (bool ephemeral : {false, true}) {
        auto paths = containerPaths(settings, name, ephemeral);
        auto expected = referencePaths(settings, name, ephemeral);
        SCOPED_TRACE("name '" + name + "', configDir '" + settings.configDir.string() + "'");
        EXPECT_EQ(paths.confFile.native(), expected.confFile.native());
        EXPECT_EQ(paths.configTextFile.native(), expected.configTextFile.native());
        EXPECT_EQ(paths.root.native(), expected.root.native());
        EXPECT_EQ(paths.profileDir.native(), expected.profileDir.native());
        EXPECT_EQ(paths.systemLink.native(), expected.systemLink.native());
        EXPECT_EQ(paths.gcrootsDir.native(), expected.gcrootsDir.native());
        EXPECT_EQ(paths.netnsPin.native(), expected.netnsPin.native());
        EXPECT_EQ(confFilePath(settings, name), expected.confFile.native());
        EXPECT_EQ(rootPath(settings, name, ephemeral).native(), expected.root.native());
        EXPECT_EQ(systemLinkPath(settings, name).native(), expected.systemLink.native());
        EXPECT_EQ(netnsPinPath(settings, name).native(), expected.netnsPin.native());
    }
}

TEST(ContainerPathsTest, AreWhatOperatorSlashGives) {
    for (const char* directory :
         {"/etc/nixos-containers", "/srv/c/", "/", "relative/dir", "", "/a//b", "/a/./b/.."}) {
        Settings settings;
        settings.configDir = directory;
        settings.stateDir = directory;
        settings.runtimeDir = directory;
        settings.profilesDir = directory;
        settings.gcrootsDir = directory;
        for (const char* name : {"web", "a-b_c9", "", "x/y", "/abs"}) {
            expectSamePaths(settings, name);
        }
    }
    expectSamePaths(Settings{}, "web");
}

TEST(ContainerPathsTest, LocateSystemMapsLikeTheLexicalOperations) {
    for (const char* store :
         {"/nix/store", "/tmp/store", "/tmp/store/", "/tmp/./store", "/tmp/x/../store", "/"}) {
        Settings settings;
        settings.storeDir = store;
        for (const char* system :
             {"/nix/store/abc-nixos-system-web", "/nix/store/abc-system/sw", "/nix/store/abc/",
              "/nix//store/abc", "/nix/store/./abc", "/nix/store/x/../abc", "/tmp/store/abc-system",
              "/tmp/store/abc/../def", "/tmp/storex/abc", "/tmp/store", "/tmp/store/..", "/nix/store",
              "/nix/store/..", "/nix/storeabc", "/tmp/store/abc/.", "/tmp/store/.."}) {
            SCOPED_TRACE(std::string("store '") + store + "', system '" + system + "'");
            auto expected = referenceLocation(settings, system);
            std::optional<SystemLocation> location;
            try {
                location = locateSystem(settings, system);
            } catch (const ContainerError&) {
                // Not in the store lexically, and not a link into it.
            }
            // Without a lexical answer locateSystem also tries where the path
            // leads on this host; only the lexical answers are compared.
            if (expected) {
                ASSERT_TRUE(location.has_value());
                EXPECT_EQ(location->onHost.native(), expected->onHost.native());
                EXPECT_EQ(location->inContainer.native(), expected->inContainer.native());
            }
        }
    }
}

TEST(ContainerPathsTest, LocateSystemFollowsAProfileLinkIntoTheStore) {
    char pattern[] = "/tmp/nc-paths-XXXXXX";
    const fs::path top = ::mkdtemp(pattern);
    Settings settings;
    settings.storeDir = top / "store";
    fs::create_directories(settings.storeDir / "abc-system");
    fs::create_symlink(settings.storeDir / "abc-system", top / "system");
    auto location = locateSystem(settings, (top / "system").native());
    EXPECT_EQ(location.onHost, settings.storeDir / "abc-system");
    EXPECT_EQ(location.inContainer, "/nix/store/abc-system");
    EXPECT_THROW(locateSystem(settings, "relative/system"), ContainerError);
    EXPECT_THROW(locateSystem(settings, (top / "nowhere").native()), ContainerError);
    fs::remove_all(top);
}

}  // namespace
}  // namespace nixos_containers
