// A machine of a container's name that this service did not start (another
// nspawn, a VM, a tenant's attempt to reach one) is not the container: it is
// never adopted, terminated or taken over. Against the fake seams; the same
// runs against machined in tests/sandbox/tenant_test.py.
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ForeignMachineTest : public ContainerManagerTest {
protected:
    void foreignMachine(const std::string& name) {
        machines.machines[name] = {name, "foreign-vm.scope", 777, "/org/freedesktop/machine1/machine/x", 0};
        systemd.units["foreign-vm.scope"] = {"active", "running", ""};
    }
};

TEST_F(ForeignMachineTest, CreateRefusesANameAForeignMachineHoldsAndLeavesNothing) {
    foreignMachine("web");
    auto created = create("web", systemSpec(), root);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().code(), ErrorCode::AlreadyExists);
    EXPECT_THAT(created.error().what(),
                HasSubstr("a machine named 'web' that this service did not start runs"));
    EXPECT_THAT(created.error().what(), HasSubstr("foreign-vm.scope"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_EQ(manager().find("web"), nullptr);
    EXPECT_TRUE(machines.terminated.empty());
}

TEST_F(ForeignMachineTest, AStaleMachineOfOursDoesNotBlockCreateAndStartEndsIt) {
    machines.machines["web"] = {"web", "nixos-container@web.service", 777, "", 0};
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_THAT(machines.terminated, ::testing::Contains("web"));
}

TEST_F(ForeignMachineTest, StartFailsRatherThanTerminateAForeignMachine) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    foreignMachine("web");  // appeared after the Create
    auto started = perform(Verb::Start, "web", root);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started.error().what(), HasSubstr("did not start runs (unit 'foreign-vm.scope')"));
    EXPECT_TRUE(machines.terminated.empty());
    EXPECT_TRUE(systemd.started.empty());
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

TEST_F(ForeignMachineTest, TerminateEndsOnlyItsOwnUnitNeverAForeignMachine) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    foreignMachine("web");
    ASSERT_TRUE(perform(Verb::Terminate, "web", root).ok());
    EXPECT_TRUE(machines.terminated.empty());
    EXPECT_THAT(systemd.stopped, ::testing::Not(::testing::Contains("foreign-vm.scope")));
}

TEST_F(ForeignMachineTest, RecoveryDoesNotAdoptAForeignMachinesUnit) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    manager_.reset();
    foreignMachine("web");
    EXPECT_EQ(manager().get("web").unit, "nixos-container@web.service");
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_EQ(manager().get("web").leader, 0U);
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    EXPECT_THAT(systemd.stopped, ::testing::Not(::testing::Contains("foreign-vm.scope")));
}

}  // namespace
}  // namespace nixos_containers
