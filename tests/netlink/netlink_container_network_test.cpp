// NetlinkContainerNetwork against the real kernel: every network shape of
// the module, long names, errors with rollback, release after a crash, and
// traffic across the pair. Every test runs in its own network namespace.

#include "netlink_container_network.h"
#include "errors.h"
#include "network_namespace.h"
#include "test_support.h"

#include <fstream>

namespace nixos_containers::testing {
namespace {

using netlink::IpPrefix;

class ContainerNetworkTest : public NetnsTest {
protected:
    void SetUp() override {
        NetnsTest::SetUp();
        if (!HasFatalFailure()) {
            baseline = snapshot(*host);
        }
    }

    // A bridge on the host, up, with an optional address.
    void makeBridge(const std::string& name, const std::string& address = "") {
        int index = netlink::createLink(*host, name, "bridge");
        netlink::setUp(*host, index);
        if (!address.empty()) {
            netlink::addAddress(*host, index, IpPrefix::parse(address));
        }
    }
    // A link standing in for a physical host interface (this kernel has no
    // dummy driver): one end of a veth pair whose other end stays behind.
    void makeHostInterface(const std::string& name) { netlink::createVeth(*host, name, name + "-p"); }
    // Call after the test created its host fixtures (bridges, interfaces).
    void takeBaseline() { baseline = snapshot(*host); }

    netlink::Namespace inside(const NetworkPlan& plan) {
        auto ns = netlink::openPinnedNamespace(plan.netnsPin);
        if (!ns) {
            throw std::runtime_error("no namespace at " + plan.netnsPin.string());
        }
        return std::move(*ns);
    }

    // What we read back over netlink equals what ip(8) reports, on the host
    // and inside the container's namespace.
    void expectIpAgrees(const NetworkPlan& plan) {
        EXPECT_EQ(nlAddresses(*host), ipAddresses());
        EXPECT_EQ(nlRoutes(*host), ipRoutes());
        auto ns = inside(plan);
        EXPECT_EQ(nlAddresses(ns.socket), ipAddresses(plan.netnsPin));
        EXPECT_EQ(nlRoutes(ns.socket), ipRoutes(plan.netnsPin));
    }

    void expectNothingLeft() {
        EXPECT_EQ(snapshot(*host), baseline);
        EXPECT_TRUE(noPins());
    }

    static bool pingFromInside(const NetworkPlan& plan, const std::string& address) {
        return runCommand("nsenter --net=" + plan.netnsPin.string() + " busybox ping -c1 -W1 " + address)
                   .status == 0;
    }
    static bool pingFromHost(const std::string& address) {
        return runCommand("busybox ping -c1 -W1 " + address).status == 0;
    }

    static ContainerSpec addresses(const std::string& hostAddress, const std::string& localAddress,
                                   const std::string& hostAddress6 = "",
                                   const std::string& localAddress6 = "") {
        ContainerSpec spec;
        spec.network.hostAddress = hostAddress;
        spec.network.localAddress = localAddress;
        spec.network.hostAddress6 = hostAddress6;
        spec.network.localAddress6 = localAddress6;
        return spec;
    }

    // Runs prepare() and returns the ContainerError it throws.
    std::optional<ContainerError> prepareError(const NetworkPlan& plan) {
        try {
            network.prepare(plan);
        } catch (const ContainerError& error) {
            return error;
        }
        ADD_FAILURE() << "prepare() succeeded";
        return std::nullopt;
    }

    NetlinkContainerNetwork network;
    Snapshot baseline;
};

TEST_F(ContainerNetworkTest, Ipv4PairWithHostRoutesAndDefaultRoute) {
    auto plan = this->plan("web", addresses("10.0.0.1", "10.0.0.2"));
    network.prepare(plan);

    auto hostEnd = netlink::findLink(*host, "ve-web");
    ASSERT_TRUE(hostEnd);
    EXPECT_EQ(hostEnd->kind, "veth");
    EXPECT_TRUE(hostEnd->up());
    EXPECT_TRUE(nlAddresses(*host).count("10.0.0.1/32 dev ve-web"));
    EXPECT_TRUE(nlRoutes(*host).count("10.0.0.2/32 dev ve-web"));

    auto ns = inside(plan);
    auto eth0 = netlink::findLink(ns.socket, "eth0");
    ASSERT_TRUE(eth0);
    EXPECT_TRUE(eth0->up());
    EXPECT_TRUE(netlink::findLink(ns.socket, "lo")->up());
    EXPECT_EQ(nlAddresses(ns.socket),
              (std::set<std::string>{"127.0.0.1/8 dev lo", "::1/128 dev lo", "10.0.0.2/32 dev eth0"}));
    auto routes = nlRoutes(ns.socket);
    EXPECT_TRUE(routes.count("10.0.0.1/32 dev eth0"));
    EXPECT_TRUE(routes.count("0.0.0.0/0 dev eth0 via 10.0.0.1"));
    expectIpAgrees(plan);

    // The network is ready when prepare() returns: the first packet from
    // inside reaches the host, and the host reaches the container.
    EXPECT_TRUE(pingFromInside(plan, "10.0.0.1"));
    EXPECT_TRUE(pingFromHost("10.0.0.2"));

    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, LocalMacAddressIsTheContainersEth0s) {
    auto spec = addresses("10.0.0.1", "10.0.0.2");
    spec.localMacAddress = "02:12:34:56:78:9a";
    auto plan = this->plan("web", spec);
    network.prepare(plan);
    auto shown = runCommand("nsenter --net=" + plan.netnsPin.string() + " ip -o link show dev eth0");
    EXPECT_EQ(shown.status, 0);
    EXPECT_NE(shown.output.find("link/ether 02:12:34:56:78:9a"), std::string::npos) << shown.output;
    EXPECT_TRUE(pingFromInside(plan, "10.0.0.1"));
    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, Ipv6Only) {
    auto plan = this->plan("six", addresses("", "", "fd00::1", "fd00::2"));
    network.prepare(plan);
    EXPECT_TRUE(nlAddresses(*host).count("fd00::1/128 dev ve-six"));
    EXPECT_TRUE(nlRoutes(*host).count("fd00::2/128 dev ve-six"));
    auto ns = inside(plan);
    EXPECT_TRUE(nlAddresses(ns.socket).count("fd00::2/128 dev eth0"));
    auto routes = nlRoutes(ns.socket);
    EXPECT_TRUE(routes.count("fd00::1/128 dev eth0"));
    EXPECT_TRUE(routes.count("::/0 dev eth0 via fd00::1"));
    expectIpAgrees(plan);
    EXPECT_TRUE(pingFromInside(plan, "fd00::1"));
    EXPECT_TRUE(pingFromHost("fd00::2"));
    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, Ipv4AndIpv6Together) {
    auto plan = this->plan("dual", addresses("10.0.1.1", "10.0.1.2", "fd01::1", "fd01::2"));
    network.prepare(plan);
    auto ns = inside(plan);
    auto addressesInside = nlAddresses(ns.socket);
    EXPECT_TRUE(addressesInside.count("10.0.1.2/32 dev eth0"));
    EXPECT_TRUE(addressesInside.count("fd01::2/128 dev eth0"));
    auto routes = nlRoutes(ns.socket);
    EXPECT_TRUE(routes.count("0.0.0.0/0 dev eth0 via 10.0.1.1"));
    EXPECT_TRUE(routes.count("::/0 dev eth0 via fd01::1"));
    expectIpAgrees(plan);
    EXPECT_TRUE(pingFromInside(plan, "10.0.1.1"));
    EXPECT_TRUE(pingFromInside(plan, "fd01::1"));
    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, HostBridgeWithPrefix) {
    makeBridge("br0", "10.5.0.1/24");
    takeBaseline();
    ContainerSpec spec;
    spec.network.hostBridge = "br0";
    spec.network.localAddress = "10.5.0.2/24";
    auto plan = this->plan("bridged", spec);
    network.prepare(plan);

    auto hostEnd = netlink::findLink(*host, "ve-bridged");
    ASSERT_TRUE(hostEnd);
    EXPECT_TRUE(hostEnd->up());
    EXPECT_EQ(hostEnd->master, netlink::findLink(*host, "br0")->index);
    EXPECT_EQ(ipJson("link show dev ve-bridged")[0].at("master"), "br0");
    // The bridged host end carries no address of its own.
    for (const auto& address : nlAddresses(*host)) {
        EXPECT_EQ(address.find("ve-bridged"), std::string::npos) << address;
    }
    auto ns = inside(plan);
    EXPECT_TRUE(nlAddresses(ns.socket).count("10.5.0.2/24 dev eth0"));
    EXPECT_TRUE(nlRoutes(ns.socket).count("10.5.0.0/24 dev eth0"));  // the prefix route
    expectIpAgrees(plan);
    EXPECT_TRUE(pingFromInside(plan, "10.5.0.1"));

    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, ExtraVethsWithAddressesAndWithBridge) {
    makeBridge("br1", "10.7.0.1/24");
    takeBaseline();
    ContainerSpec spec = addresses("10.0.2.1", "10.0.2.2");
    spec.extraVeths["xv1"].hostAddress = "10.6.0.1";
    spec.extraVeths["xv1"].localAddress = "10.6.0.2";
    spec.extraVeths["xv2"].hostBridge = "br1";
    spec.extraVeths["xv2"].localAddress = "10.7.0.2/24";
    auto plan = this->plan("extra", spec);
    network.prepare(plan);

    EXPECT_TRUE(nlAddresses(*host).count("10.6.0.1/32 dev xv1"));
    EXPECT_TRUE(nlRoutes(*host).count("10.6.0.2/32 dev xv1"));
    EXPECT_EQ(netlink::findLink(*host, "xv2")->master, netlink::findLink(*host, "br1")->index);

    auto ns = inside(plan);
    auto addressesInside = nlAddresses(ns.socket);
    EXPECT_TRUE(addressesInside.count("10.6.0.2/32 dev xv1"));
    EXPECT_TRUE(addressesInside.count("10.7.0.2/24 dev xv2"));
    auto routes = nlRoutes(ns.socket);
    EXPECT_TRUE(routes.count("10.6.0.1/32 dev xv1"));
    // Only the main veth carries the default route, as in the module.
    EXPECT_TRUE(routes.count("0.0.0.0/0 dev eth0 via 10.0.2.1"));
    for (const auto& route : routes) {
        EXPECT_FALSE(route.starts_with("0.0.0.0/0 dev xv")) << route;
    }
    expectIpAgrees(plan);
    EXPECT_TRUE(pingFromInside(plan, "10.6.0.1"));
    EXPECT_TRUE(pingFromInside(plan, "10.7.0.1"));

    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, InterfaceMovedInAndMacvlanCreated) {
    makeHostInterface("eth7");
    makeHostInterface("uplink");
    takeBaseline();
    ContainerSpec spec;
    spec.interfaces = {"eth7"};
    spec.macvlans = {"uplink"};
    auto plan = this->plan("lender", spec);
    network.prepare(plan);

    EXPECT_FALSE(netlink::findLink(*host, "eth7"));
    auto ns = inside(plan);
    EXPECT_TRUE(netlink::findLink(ns.socket, "eth7"));
    auto macvlan = netlink::findLink(ns.socket, "mv-uplink");
    ASSERT_TRUE(macvlan);
    EXPECT_EQ(macvlan->kind, "macvlan");
    std::set<std::string> names;
    for (const auto& link : ipJson("link show", plan.netnsPin)) {
        names.insert(link.at("ifname").get<std::string>());
    }
    EXPECT_EQ(names, (std::set<std::string>{"lo", "eth7", "mv-uplink"}));

    network.release(plan);
    // The lent interface is back on the host under its name.
    EXPECT_TRUE(netlink::findLink(*host, "eth7"));
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, PrivateNetworkAloneHasLoopbackUp) {
    auto plan = this->plan("alone", ContainerSpec{});
    network.prepare(plan);
    auto links = netlink::listLinks(inside(plan).socket);
    ASSERT_EQ(links.size(), 1u);
    EXPECT_EQ(links[0].name, "lo");
    EXPECT_TRUE(links[0].up());
    EXPECT_EQ(
        runCommand("nsenter --net=" + plan.netnsPin.string() + " busybox ping -c1 -W1 127.0.0.1").status, 0);
    network.release(plan);
    expectNothingLeft();
}

// A user-namespaced container's root has no capability over the namespace
// it shares: its own sysctls give every uid what root would have.
TEST_F(ContainerNetworkTest, AUserNamespacedContainersUsersMayBindLowPortsAndPing) {
    auto sysctl = [](const NetworkPlan& plan, const std::string& name) {
        return runCommand("nsenter --net=" + plan.netnsPin.string() + " cat /proc/sys/net/ipv4/" + name)
            .output;
    };
    const auto hostPorts = runCommand("cat /proc/sys/net/ipv4/ip_unprivileged_port_start").output;
    auto spec = addresses("10.77.0.1", "10.77.0.2");
    auto plain = this->plan("plain", spec);
    spec = addresses("10.77.1.1", "10.77.1.2");
    spec.privateUsers = "pick";
    auto confined = this->plan("confined", spec);
    ASSERT_FALSE(plain.unprivilegedRoot);
    ASSERT_TRUE(confined.unprivilegedRoot);
    network.prepare(plain);
    network.prepare(confined);
    EXPECT_EQ(sysctl(confined, "ip_unprivileged_port_start"), "0\n");
    EXPECT_EQ(sysctl(confined, "ping_group_range"), "0\t2147483647\n");
    EXPECT_EQ(sysctl(plain, "ip_unprivileged_port_start"), "1024\n");
    // Only the container's namespace.
    EXPECT_EQ(runCommand("cat /proc/sys/net/ipv4/ip_unprivileged_port_start").output, hostPorts);
    network.release(confined);
    network.release(plain);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, TwoLongNamesSharingAPrefixRunAtOnce) {
    const std::string prefix = "abcdefghijklmnopqrstuvwxyz0123";  // 30 characters
    const std::string first = prefix + "4567890abc";              // 40 characters
    const std::string second = prefix + "4567890abd";
    auto planA = plan(first, addresses("10.0.3.1", "10.0.3.2"));
    auto planB = plan(second, addresses("10.0.4.1", "10.0.4.2"));
    network.prepare(planA);
    network.prepare(planB);

    ASSERT_NE(planA.mainVeth->hostName, planB.mainVeth->hostName);
    for (const auto* p : {&planA, &planB}) {
        const std::string altName = "ve-" + p->container;
        auto link = netlink::findLink(*host, altName);
        ASSERT_TRUE(link) << altName;
        EXPECT_EQ(link->name, p->mainVeth->hostName);
        EXPECT_LE(link->name.size(), 15u);
        EXPECT_TRUE(link->hasAltName(altName));
        auto json = ipJson("link show dev " + link->name);
        EXPECT_EQ(json[0].at("altnames"), nlohmann::json::array({altName}));
        // ip(8) resolves the altname too.
        EXPECT_EQ(ipJson("link show dev " + altName)[0].at("ifname"), link->name);
    }
    EXPECT_TRUE(pingFromInside(planA, "10.0.3.1"));
    EXPECT_TRUE(pingFromInside(planB, "10.0.4.1"));

    network.release(planA);
    EXPECT_TRUE(netlink::findLink(*host, "ve-" + second));  // the other one is untouched
    EXPECT_TRUE(pingFromInside(planB, "10.0.4.1"));
    network.release(planB);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, MissingBridgeFailsAndLeavesNothing) {
    ContainerSpec spec;
    spec.network.hostBridge = "br9";
    spec.network.localAddress = "10.9.0.2/24";
    auto error = prepareError(plan("nobridge", spec));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), ErrorCode::NetworkSetupFailed);
    EXPECT_STREQ(error->what(), "bridge 'br9' does not exist");
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, AddressInUseFailsAndLeavesNothing) {
    makeBridge("br0", "10.0.0.1/24");
    takeBaseline();
    auto error = prepareError(plan("taken", addresses("10.0.0.1", "10.0.0.2")));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), ErrorCode::NetworkSetupFailed);
    EXPECT_STREQ(error->what(), "address 10.0.0.1/32 already in use on the host (on dev br0)");
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, MissingInterfaceToMoveFailsAndLeavesNothing) {
    ContainerSpec spec = addresses("10.0.0.1", "10.0.0.2");
    spec.interfaces = {"eth7"};
    auto error = prepareError(plan("nomove", spec));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), ErrorCode::NetworkSetupFailed);
    EXPECT_STREQ(error->what(), "interface 'eth7' to move does not exist");
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, KernelFailureLateRollsEverythingBack) {
    // Everything else is created before the macvlan, which the kernel
    // refuses on loopback: the rollback must undo veths, the moved
    // interface and the namespace.
    makeBridge("br2");
    makeHostInterface("eth7");
    takeBaseline();
    ContainerSpec spec = addresses("10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2");
    spec.extraVeths["xv1"].hostBridge = "br2";
    spec.interfaces = {"eth7"};
    spec.macvlans = {"lo"};
    auto error = prepareError(plan("late", spec));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), ErrorCode::NetworkSetupFailed);
    EXPECT_TRUE(std::string(error->what()).starts_with("creating macvlan 'mv-lo' on 'lo': "))
        << error->what();
    EXPECT_TRUE(netlink::findLink(*host, "eth7"));
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, InvalidAddressIsInvalidArgumentBeforeAnything) {
    auto error = prepareError(plan("bad", addresses("10.0.0.300", "10.0.0.2")));
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), ErrorCode::InvalidArgument);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, ReleaseIsIdempotent) {
    auto plan = this->plan("twice", addresses("10.0.0.1", "10.0.0.2"));
    network.release(plan);  // never prepared
    network.prepare(plan);
    network.release(plan);
    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, ReleaseByAFreshInstanceAfterACrash) {
    const std::string name = std::string(40, 'c');
    auto plan = this->plan(name, addresses("10.0.0.1", "10.0.0.2"));
    {
        NetlinkContainerNetwork crashed;
        crashed.prepare(plan);
    }
    // The restarted service: a new instance, no memory of the old one.
    NetlinkContainerNetwork restarted;
    restarted.release(plan);
    expectNothingLeft();
    restarted.prepare(plan);  // names and pin are free again
    restarted.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, ReleaseAfterACrashMidPrepare) {
    // Killed after the namespace and the veth were created, before the
    // altname was added: the host end cannot be recognised by name alone,
    // but it goes with its container end.
    const std::string name = std::string(40, 'm');
    auto plan = this->plan(name, addresses("10.0.0.1", "10.0.0.2"));
    {
        auto ns = netlink::createPinnedNamespace(plan.netnsPin);
        netlink::createVeth(*host, plan.mainVeth->hostName, "eth0", ns.fd.get());
    }
    network.release(plan);
    expectNothingLeft();

    // Killed between creating the pin file and mounting the namespace on it.
    std::filesystem::create_directories(plan.netnsPin.parent_path());
    { std::ofstream(plan.netnsPin.string()); }
    network.release(plan);
    expectNothingLeft();
    network.prepare(plan);
    network.release(plan);
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, AForeignLinkNamedLikeAnExtraVethIsNeverDeleted) {
    netlink::createVeth(*host, "xv1", "xv1-foreign");
    takeBaseline();
    ContainerSpec spec;
    spec.extraVeths["xv1"].hostAddress = "10.6.0.1";
    spec.extraVeths["xv1"].localAddress = "10.6.0.2";
    auto plan = this->plan("extra", spec);
    network.release(plan);
    EXPECT_TRUE(netlink::findLink(*host, "xv1"));
    auto error = prepareError(plan);
    ASSERT_TRUE(error);
    EXPECT_STREQ(error->what(), "host interface 'xv1' already exists");
    expectNothingLeft();
}

TEST_F(ContainerNetworkTest, ACollidingForeignLinkIsNeverDeleted) {
    const std::string name = std::string(40, 'f');
    auto plan = this->plan(name, addresses("10.0.0.1", "10.0.0.2"));
    // Somebody else's veth under the host name we would derive.
    netlink::createVeth(*host, plan.mainVeth->hostName, "foreign-p");
    takeBaseline();
    network.release(plan);
    EXPECT_TRUE(netlink::findLink(*host, plan.mainVeth->hostName));
    auto error = prepareError(plan);
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), ErrorCode::NetworkSetupFailed);
    EXPECT_STREQ(error->what(), ("host interface '" + plan.mainVeth->hostName + "' already exists").c_str());
    expectNothingLeft();
}

}  // namespace
}  // namespace nixos_containers::testing
