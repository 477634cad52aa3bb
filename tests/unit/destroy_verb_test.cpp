// Destroy: everything on disk goes; declarative containers stay, against the fake seams
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
using ::testing::Not;

using DestroyVerbTest = ContainerManagerTest;

TEST_F(DestroyVerbTest, DestroyRemovesTheLockFileAKilledNspawnLeft) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    fs::create_directories(settings.stateDir);
    const auto lock = settings.stateDir / ".#web.lck";
    std::ofstream(lock) << "";
    ASSERT_TRUE(fs::exists(lock));
    const auto other = settings.stateDir / ".#webby.lck";  // another container's
    std::ofstream(other) << "";
    ASSERT_TRUE(perform(Verb::Destroy, "web", root).ok());
    EXPECT_FALSE(fs::exists(fs::symlink_status(lock)));
    EXPECT_TRUE(fs::exists(other));
}

TEST_F(DestroyVerbTest, DestroyRemovesEverythingOnDisk) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    auto rootDir = manager().get("web").root;
    ASSERT_TRUE(perform(Verb::Destroy, "web", root).ok());
    EXPECT_THAT(systemd.stopped, Contains("nixos-container@web.service"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(rootDir));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));
    EXPECT_FALSE(fs::exists(settings.gcrootsDir / "web"));
    EXPECT_THAT(observer.removed, Contains("web"));
    EXPECT_EQ(manager().find("web"), nullptr);
    auto gone = perform(Verb::Start, "web", root);
    EXPECT_EQ(gone.error().code(), ErrorCode::NoSuchContainer);
}

// A root that cannot be removed (an immutable file its root user made, a
// mount below it): the container stays, listed with why, and a second
// Destroy finishes the job once the admin fixed it.
TEST_F(DestroyVerbTest, AFailedRemovalForgetsNothing) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    const auto rootDir = manager().get("web").root;
    fs::create_directories(rootDir / "etc");
    worker.hold = true;
    std::optional<Status> destroyed;
    manager().perform(root, Verb::Destroy, "web", [&](Status status) { destroyed = std::move(status); });
    loop.drain();
    ASSERT_EQ(worker.held.size(), 1U);  // the wait for the network's release
    worker.runHeldOnce();
    loop.drain();
    ASSERT_EQ(worker.held.size(), 1U);  // the removal of the data
    worker.failHeld(ContainerError(ErrorCode::IOError,
                                   "cannot remove '" + rootDir.string() + "': Operation not permitted"));
    loop.drain();
    ASSERT_TRUE(destroyed.has_value());
    ASSERT_FALSE(destroyed->ok());
    EXPECT_EQ(destroyed->error().code(), ErrorCode::IOError);
    EXPECT_THAT(destroyed->error().what(), HasSubstr("was not destroyed"));
    EXPECT_THAT(destroyed->error().what(), HasSubstr(rootDir.string()));
    EXPECT_TRUE(fs::exists(settings.configDir / "web.conf"));
    ASSERT_NE(manager().find("web"), nullptr);
    EXPECT_THAT(observer.removed, Not(Contains("web")));
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_THAT(manager().get("web").lastError, HasSubstr("Operation not permitted"));
    worker.hold = false;
    ASSERT_TRUE(perform(Verb::Destroy, "web", root).ok());
    EXPECT_EQ(manager().find("web"), nullptr);
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(rootDir));
}

TEST_F(DestroyVerbTest, TheConfOutlivesTheReleaseOfTheNetwork) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    // A service killed during the release must find the conf at its restart,
    // or nobody knows whose network the pin is.
    worker.hold = true;  // the release takes its time off the loop
    std::optional<Status> destroyed;
    manager().perform(root, Verb::Destroy, "web", [&](Status status) { destroyed = std::move(status); });
    loop.drain();
    EXPECT_FALSE(destroyed.has_value());
    EXPECT_TRUE(fs::exists(settings.configDir / "web.conf"));
    worker.runHeld();
    loop.drain();
    ASSERT_TRUE(destroyed.has_value());
    EXPECT_TRUE(destroyed->ok()) << destroyed->error().what();
    EXPECT_THAT(network.events, Contains("release web"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
}

TEST_F(DestroyVerbTest, RecoveryReleasesTheNetworkOfADestroyThatDidNotFinish) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("kept", spec, root).ok());
    manager_.reset();  // killed after the conf of "gone" went, before its pin did
    const auto pins = settings.runtimeDir / "netns";
    fs::create_directories(pins);
    for (const auto* pin : {"gone", "kept", "..hidden"}) {
        std::ofstream(pins / pin) << "";
    }
    network.events.clear();
    manager();
    EXPECT_THAT(network.events, Contains("release gone"));
    EXPECT_THAT(network.events, Contains("release kept"));  // stopped: released as before
    EXPECT_THAT(network.events, Not(Contains("release ..hidden")));
}

TEST_F(DestroyVerbTest, DeclarativeContainersCannotBeChangedOrDestroyed) {
    fs::create_directories(settings.configDir);
    std::ofstream(settings.configDir / "nixos.conf")
        << "SYSTEM_PATH=" << (settings.storeDir / "abc-system").string() << "\n";
    fs::permissions(settings.configDir / "nixos.conf", fs::perms::owner_read | fs::perms::group_read);
    fs::create_directories(settings.declarativeUnitDirs[0]);
    std::ofstream(settings.declarativeUnitDirs[0] / "container@nixos.service") << "[Service]\n";
    auto& service = manager();
    ASSERT_NE(service.find("nixos"), nullptr);
    EXPECT_TRUE(service.get("nixos").declarative);
    EXPECT_EQ(service.get("nixos").unit, "container@nixos.service");
    auto destroyed = perform(Verb::Destroy, "nixos", root);
    EXPECT_EQ(destroyed.error().code(), ErrorCode::Declarative);
    std::optional<Status> updated;
    SpecPatch patch;
    patch.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    service.update(root, "nixos", patch, [&](Status status) { updated = status; });
    loop.drain();
    ASSERT_TRUE(updated);
    EXPECT_EQ(updated->error().code(), ErrorCode::Declarative);
    EXPECT_TRUE(fs::exists(settings.configDir / "nixos.conf"));
}

}  // namespace
}  // namespace nixos_containers
