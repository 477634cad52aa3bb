// planNetwork and friends: pure functions, no kernel involved.

#include "network_plan.h"

#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

TEST(HostInterfaceName, ShortNamesAreTheModulesOwn) {
    EXPECT_EQ(hostInterfaceName("web"), "ve-web");
    EXPECT_EQ(hostInterfaceName("twelve-chars"), "ve-twelve-chars");  // exactly 15 bytes
}

TEST(HostInterfaceName, LongNamesAreShortStableAndDistinct) {
    const std::string prefix = "abcdefghijklmnopqrstuvwxyz0123";  // 30 characters
    const std::string a = prefix + "4567890abc";                  // 40 characters
    const std::string b = prefix + "4567890abd";
    // Pinned: "ve-", the first 4 characters, "-", then the low 28 bits of the
    // name's FNV-1a hash in 7 hex digits (computed outside the code under
    // test). A service restart must find the links a previous one made, so
    // these may never change between builds.
    EXPECT_EQ(hostInterfaceName(a), "ve-abcd-4e28709");
    EXPECT_EQ(hostInterfaceName(b), "ve-abcd-4e288bc");
    EXPECT_EQ(hostInterfaceName("thirteen-char"), "ve-thir-0a99c39");  // "ve-thirteen-char" is 16 bytes
    EXPECT_EQ(hostInterfaceName(std::string(40, 'q')), "ve-qqqq-86d7a8d");
}

TEST(PlanNetwork, NoPrivateNetworkNoPlan) {
    ContainerSpec spec;
    spec.network.hostAddress = "10.0.0.1";
    EXPECT_FALSE(planNetwork("c", spec, Settings{}));
}

TEST(PlanNetwork, MainVethExtraVethsInterfacesMacvlans) {
    Settings settings;
    settings.runtimeDir = "/run/test";
    ContainerSpec spec;
    spec.privateNetwork = true;
    spec.network.hostAddress = "10.0.0.1";
    spec.network.localAddress = "10.0.0.2";
    spec.extraVeths["xv1"].hostBridge = "br0";
    spec.interfaces = {"eth7"};
    spec.macvlans = {"eth8"};
    auto plan = planNetwork("web", spec, settings);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->container, "web");
    EXPECT_EQ(plan->netnsPin, "/run/test/netns/web");
    ASSERT_TRUE(plan->mainVeth);
    EXPECT_EQ(plan->mainVeth->hostName, "ve-web");
    EXPECT_EQ(plan->mainVeth->hostAltName, "");  // the name itself is "ve-web"
    EXPECT_EQ(plan->mainVeth->containerName, "eth0");
    EXPECT_EQ(plan->mainVeth->options, spec.network);
    ASSERT_EQ(plan->extraVeths.size(), 1u);
    EXPECT_EQ(plan->extraVeths[0].hostName, "xv1");
    EXPECT_EQ(plan->extraVeths[0].containerName, "xv1");
    EXPECT_EQ(plan->extraVeths[0].hostAltName, "");
    EXPECT_EQ(plan->extraVeths[0].options.hostBridge, "br0");
    EXPECT_EQ(plan->moveInterfaces, spec.interfaces);
    EXPECT_EQ(plan->macvlanParents, spec.macvlans);
}

TEST(PlanNetwork, LongNameGetsAltName) {
    ContainerSpec spec;
    spec.privateNetwork = true;
    spec.network.hostBridge = "br0";
    const std::string name(40, 'q');
    auto plan = planNetwork(name, spec, Settings{});
    ASSERT_TRUE(plan && plan->mainVeth);
    EXPECT_EQ(plan->mainVeth->hostName, "ve-qqqq-86d7a8d");
    EXPECT_EQ(plan->mainVeth->hostAltName, "ve-" + name);
}

TEST(PlanNetwork, PrivateNetworkWithoutAddressesHasNoVeth) {
    ContainerSpec spec;
    spec.privateNetwork = true;
    auto plan = planNetwork("c", spec, Settings{});
    ASSERT_TRUE(plan);
    EXPECT_FALSE(plan->mainVeth);
    EXPECT_TRUE(plan->empty());
}

TEST(PlannedContainerAddresses, LocalAddressesWithoutPrefix) {
    ContainerSpec spec;
    spec.privateNetwork = true;
    spec.network.localAddress = "10.0.0.2/24";
    spec.network.localAddress6 = "fd00::2";
    spec.network.hostAddress = "10.0.0.1";
    spec.extraVeths["a"].localAddress = "10.1.0.2";
    EXPECT_EQ(plannedContainerAddresses(spec), (std::vector<std::string>{"10.0.0.2", "fd00::2", "10.1.0.2"}));
    spec.privateNetwork = false;
    EXPECT_TRUE(plannedContainerAddresses(spec).empty());
}

TEST(StripPrefix, RemovesOnlyThePrefix) {
    EXPECT_EQ(stripPrefix("10.0.0.1/24"), "10.0.0.1");
    EXPECT_EQ(stripPrefix("fd00::1"), "fd00::1");
}

}  // namespace
}  // namespace nixos_containers
