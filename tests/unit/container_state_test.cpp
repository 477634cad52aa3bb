#include "container_state.h"
#include "address_pool.h"
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

TEST(AddressPoolTest, AllocatesTheFirstFreePairAndNeverTwice) {
    AddressPool pool;
    ContainerSpec used;
    used.network.hostAddress = "10.233.0.1";
    used.network.localAddress = "10.233.0.2/24";
    pool.noteUsed(used);
    auto first = pool.allocate();
    EXPECT_EQ(first.first, "10.233.1.1");
    EXPECT_EQ(first.second, "10.233.1.2");
    auto second = pool.allocate();
    EXPECT_EQ(second.first, "10.233.2.1");
    pool.release(first);
    EXPECT_EQ(pool.allocate().first, "10.233.1.1");
    pool.forget(used);
    EXPECT_EQ(pool.allocate().first, "10.233.0.1");
}

TEST(AddressPoolTest, RunsOutWithANamedError) {
    AddressPool pool;
    for (int i = 0; i < 256; ++i) {
        pool.allocate();
    }
    try {
        pool.allocate();
        FAIL() << "expected LimitsExceeded";
    } catch (const ContainerError& error) {
        EXPECT_EQ(error.code(), ErrorCode::LimitsExceeded);
    }
}

}  // namespace
}  // namespace nixos_containers
