// The store against a container whose root user planted links: nothing
// outside the root may be written, created or chmod'ed.
#include "container_store.h"
#include "errors.h"
#include "expect_error.h"
#include "temp_settings.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;

std::string contents(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
}

class ContainerStoreTest : public ::testing::Test {
protected:
    ContainerStoreTest() {
        char pattern[] = "/tmp/nc-store-XXXXXX";
        top = mkdtemp(pattern);
        settings = settingsUnder(top);
        std::ofstream(settings.resolvConf) << "nameserver 10.0.0.1\n";
        outside = top / "outside";
        fs::create_directories(outside);
        std::ofstream(outside / "secret") << "do not touch\n";
        fs::permissions(outside, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
        paths = containerPaths(settings, "web", false);
    }
    ~ContainerStoreTest() override { fs::remove_all(top); }

    fs::path top;
    fs::path outside;
    Settings settings;
    ContainerPaths paths;
};

// Issue 25 item 11: a conf chmod'ed 0444 (or on a read-only config
// directory) was taken as declarative, and its Start asked systemd for a
// container@NAME.service that does not exist.
TEST_F(ContainerStoreTest, DeclarativeMeansWhatNixOSMakesNotWhatCannotBeWritten) {
    ContainerStore store(settings);
    fs::create_directories(settings.configDir);
    const auto readOnly = fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
    std::ofstream(settings.configDir / "ro.conf") << "PRIVATE_NETWORK=0\n";
    fs::permissions(settings.configDir / "ro.conf", readOnly);
    EXPECT_FALSE(store.runsByModuleTemplate("ro"));
    EXPECT_FALSE(store.load("ro").declarative);

    // A unit NixOS made for it: declarative, however the conf is.
    fs::create_directories(settings.declarativeUnitDirs.at(0));
    std::ofstream(settings.configDir / "unit.conf") << "PRIVATE_NETWORK=0\n";
    std::ofstream(settings.declarativeUnitDirs.at(0) / "container@unit.service") << "[Service]\n";
    EXPECT_TRUE(store.runsByModuleTemplate("unit"));

    // environment.etc's link into the store (through /etc/static).
    fs::create_directories(settings.storeDir / "abc-etc");
    std::ofstream(settings.storeDir / "abc-etc/linked.conf") << "PRIVATE_NETWORK=0\n";
    fs::create_directory_symlink(settings.storeDir / "abc-etc", top / "etc-static");
    fs::create_symlink(top / "etc-static/linked.conf", settings.configDir / "linked.conf");
    EXPECT_TRUE(store.runsByModuleTemplate("linked"));

    // A link an admin made elsewhere is no NixOS conf.
    std::ofstream(outside / "elsewhere.conf") << "PRIVATE_NETWORK=0\n";
    fs::create_symlink(outside / "elsewhere.conf", settings.configDir / "elsewhere.conf");
    EXPECT_FALSE(store.runsByModuleTemplate("elsewhere"));
    EXPECT_FALSE(store.runsByModuleTemplate("missing"));
}

// The registry keeps what save wrote (ContainerChange::commit): the conf on
// disk, unknown keys of the base included, not a second computation of it.
TEST_F(ContainerStoreTest, SaveReturnsTheConfItWrote) {
    ContainerStore store(settings);
    ContainerSpec spec;
    spec.systemPath = "/nix/store/abc-system";
    spec.config = "{ services.nginx.enable = true; }";
    EnvFile base;
    base.set("SOMEONES_KEY", "kept");
    auto written = store.save("web", spec, base);
    std::ifstream file(settings.configDir / "web.conf");
    std::stringstream text;
    text << file.rdbuf();
    EXPECT_EQ(written.serialize(), text.str());
    ASSERT_NE(written.find("SOMEONES_KEY"), nullptr);
    EXPECT_EQ(*written.find("SOMEONES_KEY"), "kept");
    EXPECT_EQ(store.load("web").conf.entries(), written.entries());
}

TEST_F(ContainerStoreTest, PreparesTheModulesSkeleton) {
    ContainerStore store(settings);
    store.prepareRoot(paths);
    EXPECT_TRUE(fs::is_directory(paths.root / "var/lib/private"));
    EXPECT_TRUE(fs::is_directory(paths.root / "usr"));
    EXPECT_TRUE(fs::is_regular_file(paths.root / "etc/os-release"));
    EXPECT_TRUE(fs::is_regular_file(paths.root / "etc/machine-id"));
    EXPECT_EQ(contents(paths.root / "etc/resolv.conf"), "nameserver 10.0.0.1\n");
    struct stat info {};
    ASSERT_EQ(::stat((paths.root / "root").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0700U);
    ASSERT_EQ(::stat((paths.root / "etc").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0755U);
    store.prepareRoot(paths);  // again: idempotent
}

TEST_F(ContainerStoreTest, AResolvConfLinkIsReplacedNotFollowed) {
    fs::create_directories(paths.root / "etc");
    fs::create_symlink(outside / "secret", paths.root / "etc/resolv.conf");
    ContainerStore(settings).prepareRoot(paths);
    EXPECT_EQ(contents(outside / "secret"), "do not touch\n");
    EXPECT_FALSE(fs::is_symlink(paths.root / "etc/resolv.conf"));
    EXPECT_EQ(contents(paths.root / "etc/resolv.conf"), "nameserver 10.0.0.1\n");
}

TEST_F(ContainerStoreTest, AnUnchangedResolvConfIsKeptAndAnyOtherReplaced) {
    ContainerStore store(settings);
    store.prepareRoot(paths);
    const auto resolvConf = paths.root / "etc/resolv.conf";
    auto inode = [](const fs::path& path) {
        struct stat info {};
        EXPECT_EQ(::lstat(path.c_str(), &info), 0);
        return info.st_ino;
    };
    const auto first = inode(resolvConf);
    store.prepareRoot(paths);
    EXPECT_EQ(inode(resolvConf), first);  // the same file: nothing written

    std::ofstream(resolvConf) << "nameserver 10.0.0.9\n";  // the container changed it
    store.prepareRoot(paths);
    EXPECT_EQ(contents(resolvConf), "nameserver 10.0.0.1\n");

    // The host's text, but a second name for the file: replaced, never kept.
    fs::create_hard_link(resolvConf, paths.root / "etc/other-name");
    const auto linked = inode(resolvConf);
    store.prepareRoot(paths);
    EXPECT_NE(inode(resolvConf), linked);
    EXPECT_EQ(contents(resolvConf), "nameserver 10.0.0.1\n");

    // The host's text with more after it: replaced.
    std::ofstream(resolvConf) << "nameserver 10.0.0.1\nextra\n";
    store.prepareRoot(paths);
    EXPECT_EQ(contents(resolvConf), "nameserver 10.0.0.1\n");
}

TEST_F(ContainerStoreTest, LinkedDirectoriesAreRefusedAndTheirTargetsUntouched) {
    fs::create_directories(paths.root);
    fs::create_symlink(outside, paths.root / "root");  // chmod 0700 would land on `outside`
    auto before = fs::status(outside).permissions();
    try {
        ContainerStore(settings).prepareRoot(paths);
        FAIL() << "expected IOError";
    } catch (const ContainerError& error) {
        EXPECT_EQ(error.code(), ErrorCode::IOError);
        EXPECT_NE(std::string(error.what()).find("root"), std::string::npos);
    }
    EXPECT_EQ(fs::status(outside).permissions(), before);

    fs::remove(paths.root / "root");
    fs::remove_all(paths.root / "etc");               // made by the refused attempt above
    fs::create_symlink(outside, paths.root / "etc");  // os-release would be created in `outside`
    EXPECT_THROW(ContainerStore(settings).prepareRoot(paths), ContainerError);
    EXPECT_FALSE(fs::exists(outside / "os-release"));
    EXPECT_FALSE(fs::exists(outside / "resolv.conf"));
}

TEST_F(ContainerStoreTest, LoadingRemovesTemporariesOfAKilledWriteAndKeepsEverythingElse) {
    ContainerStore store(settings);
    ContainerSpec spec;
    spec.systemPath = "/nix/store/abc-system";
    store.save("web", spec, EnvFile{});
    fs::copy_file(settings.configDir / "web.conf", settings.configDir / "db.conf.tmp");  // killed mid-write
    std::ofstream(settings.configDir / "db.nix.tmp") << "{ }";
    std::ofstream(settings.configDir / "broken.conf") << "NOT A LINE\n";
    std::ofstream(settings.configDir / "notes.txt") << "the admin's\n";
    std::vector<std::string> problems;
    auto entries = store.loadAll(problems);
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    ASSERT_EQ(entries.size(), 2U);
    EXPECT_EQ(entries[0].name, "broken");  // listed, saying why
    EXPECT_NE(entries[0].broken.find("expected KEY=value"), std::string::npos) << entries[0].broken;
    EXPECT_EQ(entries[1].name, "web");
    EXPECT_EQ(entries[1].broken, "");
    EXPECT_FALSE(fs::exists(settings.configDir / "db.conf.tmp"));
    EXPECT_FALSE(fs::exists(settings.configDir / "db.nix.tmp"));
    // What is not ours to judge stays: a conf that does not parse, other files.
    EXPECT_TRUE(fs::exists(settings.configDir / "broken.conf"));
    EXPECT_TRUE(fs::exists(settings.configDir / "notes.txt"));
    EXPECT_EQ(problems.size(), 1U);
}

// Issue 25 item 13: every conf found is listed; a broken one says what is
// wrong, and a huge one is judged by its size, never read whole.
TEST_F(ContainerStoreTest, BrokenConfsAreListedWithWhatIsWrong) {
    ContainerStore store(settings);
    fs::create_directories(settings.configDir);
    auto write = [&](const std::string& name, std::string_view text) {
        std::ofstream(settings.configDir / (name + ".conf"), std::ios::binary) << text;
    };
    write("good", "SYSTEM_PATH=/nix/store/abc-system\n");
    write("empty", "");
    write("nul", std::string("SYSTEM_PATH=/nix/store/abc") + '\0' + "-system\n");
    write("cut", "SYSTEM_PATH=/nix/store/abc-sys");
    write("unparsable", "SYSTEM_PATH=\"/nix/store/abc-system\n");
    {
        std::ofstream huge(settings.configDir / "huge.conf");
        huge << "SYSTEM_PATH=/nix/store/abc-system\n";
    }
    fs::resize_file(settings.configDir / "huge.conf", 10U << 20);  // sparse: 10 MiB
    fs::create_symlink(top / "nowhere.conf", settings.configDir / "dangling.conf");
    fs::create_directory(settings.configDir / "directory.conf");
    ASSERT_EQ(::mkfifo((settings.configDir / "fifo.conf").c_str(), 0644), 0);  // would block a reader

    std::vector<std::string> problems;
    std::map<std::string, std::string> broken;
    for (const auto& entry : store.loadAll(problems)) {
        broken[entry.name] = entry.broken;
    }
    ASSERT_EQ(broken.size(), 9U);
    EXPECT_EQ(broken["good"], "");
    EXPECT_NE(broken["empty"].find("it is empty"), std::string::npos) << broken["empty"];
    EXPECT_NE(broken["nul"].find("NUL"), std::string::npos) << broken["nul"];
    EXPECT_NE(broken["cut"].find("no newline"), std::string::npos) << broken["cut"];
    EXPECT_NE(broken["unparsable"].find("unterminated quote"), std::string::npos) << broken["unparsable"];
    EXPECT_NE(broken["huge"].find("larger than"), std::string::npos) << broken["huge"];
    EXPECT_NE(broken["dangling"].find("cannot read"), std::string::npos) << broken["dangling"];
    EXPECT_NE(broken["directory"].find("not a regular file"), std::string::npos) << broken["directory"];
    EXPECT_NE(broken["fifo"].find("not a regular file"), std::string::npos) << broken["fifo"];
    for (const auto& [name, why] : broken) {
        if (name != "good") {
            EXPECT_NE(why.find(name + ".conf"), std::string::npos) << "names the file: " << why;
        }
    }
    EXPECT_EQ(problems.size(), 8U);
    // Left alone: the admin decides.
    EXPECT_EQ(fs::file_size(settings.configDir / "huge.conf"), 10U << 20);
}

}  // namespace
}  // namespace nixos_containers

namespace nixos_containers {
namespace {

fs::perms modeOf(const fs::path& path) {
    return fs::status(path).permissions() & fs::perms::mask;
}

// Issue 10: a setuid file a container's root plants in its tree is out of
// every host user's reach; the module's NAME.nix (Config text) is root's.
TEST_F(ContainerStoreTest, TheTreesAContainerCanPlantInAreRootsAloneAndConfigTextToo) {
    ContainerStore store(settings);
    fs::create_directories(settings.stateDir);
    fs::permissions(settings.stateDir, fs::perms::owner_all | fs::perms::group_read | fs::perms::others_exec);
    fs::remove_all(settings.gcrootsDir);
    auto corrected = store.secureTrees();
    EXPECT_NE(std::find(corrected.begin(), corrected.end(), settings.stateDir.string()), corrected.end());
    for (const auto& tree :
         {settings.stateDir, settings.runtimeDir, settings.profilesDir, settings.gcrootsDir}) {
        EXPECT_EQ(modeOf(tree), fs::perms::owner_all) << tree;
    }
    EXPECT_TRUE(store.secureTrees().empty());  // nothing left to correct
    store.saveConfigText("web", "{ services.secret.password = \"hunter2\"; }");
    EXPECT_EQ(modeOf(paths.configTextFile), fs::perms::owner_read | fs::perms::owner_write);
}

// A build writes the module, then the conf is saved with it: the same text
// is not written (and fsync'ed) again; other text, or a wider mode, is.
TEST_F(ContainerStoreTest, TheSameConfigTextIsNotWrittenTwice) {
    ContainerStore store(settings);
    auto inode = [&] {
        struct stat info {};
        EXPECT_EQ(::stat(paths.configTextFile.c_str(), &info), 0);
        return info.st_ino;
    };
    store.saveConfigText("web", "services.a.enable = true;");
    const auto first = inode();
    store.saveConfigText("web", "services.a.enable = true;");
    EXPECT_EQ(inode(), first);
    store.saveConfigText("web", "services.b.enable = true;");
    const auto second = inode();
    EXPECT_NE(second, first);
    fs::permissions(paths.configTextFile, fs::perms::others_read, fs::perm_options::add);
    store.saveConfigText("web", "services.b.enable = true;");
    EXPECT_NE(inode(), second);
    EXPECT_EQ(modeOf(paths.configTextFile), fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(ContainerStoreTest, LinkingASystemMakesGenerationsAsNixEnvDoes) {
    ContainerStore store(settings);
    store.linkSystem(paths, "/nix/store/aaa-system");
    store.linkSystem(paths, "/nix/store/aaa-system");  // the same again: no new generation
    store.linkSystem(paths, "/nix/store/bbb-system");
    auto generations = store.generations(paths);
    ASSERT_EQ(generations.size(), 2U);
    EXPECT_EQ(generations[0].number, 1U);
    EXPECT_EQ(generations[0].system, "/nix/store/aaa-system");
    EXPECT_FALSE(generations[0].current);
    EXPECT_EQ(generations[1].system, "/nix/store/bbb-system");
    EXPECT_TRUE(generations[1].current);
    EXPECT_GT(generations[1].createdUsec, 0U);
    // nix-env's layout: PROFILE -> PROFILE-N-link, relative.
    EXPECT_EQ(fs::read_symlink(paths.systemLink), "system-2-link");
    EXPECT_EQ(fs::read_symlink(paths.profileDir / "system-2-link"), "/nix/store/bbb-system");
}

TEST_F(ContainerStoreTest, RollBackGoesToTheNewestOlderGenerationAndNoFurther) {
    ContainerStore store(settings);
    store.linkSystem(paths, "/nix/store/aaa-system");
    store.linkSystem(paths, "/nix/store/bbb-system");
    store.linkSystem(paths, "/nix/store/ccc-system");
    auto back = store.rollBack(paths, "web");
    EXPECT_EQ(back.number, 2U);
    EXPECT_EQ(back.system, "/nix/store/bbb-system");
    EXPECT_EQ(fs::read_symlink(paths.systemLink), "system-2-link");
    EXPECT_EQ(store.rollBack(paths, "web").number, 1U);
    expectInvalid([&] { store.rollBack(paths, "web"); }, "no generation older than the current one (1)");
    // A new system after a rollback is a new generation, as with nix-env.
    store.linkSystem(paths, "/nix/store/ddd-system");
    EXPECT_EQ(fs::read_symlink(paths.systemLink), "system-4-link");
}

TEST_F(ContainerStoreTest, AProfileThatLinksToASystemDirectlyBecomesGenerationOne) {
    fs::create_directories(paths.profileDir);
    fs::create_symlink("/nix/store/old-system", paths.systemLink);
    ContainerStore store(settings);
    store.linkSystem(paths, "/nix/store/new-system");
    auto generations = store.generations(paths);
    ASSERT_EQ(generations.size(), 2U);
    EXPECT_EQ(generations[0].system, "/nix/store/old-system");
    EXPECT_EQ(store.rollBack(paths, "web").system, "/nix/store/old-system");
    expectInvalid([&] { ContainerStore(settings).rollBack(containerPaths(settings, "none", false), "none"); },
                  "container 'none' has no generation older than the current one");
}

}  // namespace
}  // namespace nixos_containers
