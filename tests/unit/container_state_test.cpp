#include "container_state.h"
#include "container_spec.h"
#include "errors.h"

#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

TEST(ContainerStateTest, FollowsTheUnit) {
    EXPECT_EQ(stateFromUnit({"active", "running", ""}), ContainerState::Running);
    EXPECT_EQ(stateFromUnit({"reloading", "", ""}), ContainerState::Running);
    EXPECT_EQ(stateFromUnit({"activating", "start", ""}), ContainerState::Starting);
    EXPECT_EQ(stateFromUnit({"activating", "auto-restart", ""}), ContainerState::Starting);
    EXPECT_EQ(stateFromUnit({"deactivating", "stop-sigterm", ""}), ContainerState::Stopping);
    EXPECT_EQ(stateFromUnit({"failed", "failed", "exit-code"}), ContainerState::Failed);
    EXPECT_EQ(stateFromUnit({"inactive", "dead", ""}), ContainerState::Stopped);
    EXPECT_EQ(stateFromUnit(UnitState{}), ContainerState::Stopped);
    EXPECT_EQ(toString(ContainerState::Stopping), "stopping");
}

TEST(UpdateEffectTest, OnlyTheSystemChangedMeansReload) {
    ContainerSpec before;
    before.systemPath = "/nix/store/a-system";
    auto after = before;
    EXPECT_EQ(classifyUpdate(before, after), UpdateEffect::None);
    after.autoStart = true;
    EXPECT_EQ(classifyUpdate(before, after), UpdateEffect::None);
    after.systemPath = "/nix/store/b-system";
    EXPECT_EQ(classifyUpdate(before, after), UpdateEffect::Reload);
    after.forwardPorts = {{"tcp", 80, 0}};
    EXPECT_EQ(classifyUpdate(before, after), UpdateEffect::Restart);
}

}  // namespace
}  // namespace nixos_containers
