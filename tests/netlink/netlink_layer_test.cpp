// The netlink layer against the real kernel, cross-checked with ip(8).

#include "netlink.h"
#include "network_namespace.h"
#include "test_support.h"

#include <netlink/errno.h>

#include <linux/if.h>

#include <fstream>

namespace nixos_containers::testing {
namespace {

using netlink::IpPrefix;

using NetlinkLayer = NetnsTest;

TEST(IpPrefixTest, ParsesAndFormats) {
    EXPECT_EQ(IpPrefix::parse("10.0.0.1").str(), "10.0.0.1/32");
    EXPECT_EQ(IpPrefix::parse("10.0.0.1/24").str(), "10.0.0.1/24");
    EXPECT_EQ(IpPrefix::parse("fd00::1").str(), "fd00::1/128");
    EXPECT_EQ(IpPrefix::parse("fd00::1/64").host().str(), "fd00::1/128");
    EXPECT_EQ(IpPrefix::parse("fd00::1/64").address(), "fd00::1");
    EXPECT_THROW(IpPrefix::parse("10.0.0.300"), std::invalid_argument);
    EXPECT_THROW(IpPrefix::parse("10.0.0.1/33"), std::invalid_argument);
    EXPECT_THROW(IpPrefix::parse("10.0.0.1/"), std::invalid_argument);
    EXPECT_THROW(IpPrefix::parse("fd00::1/12x"), std::invalid_argument);
}

TEST_F(NetlinkLayer, VethAddressesAndRoutesMatchIp) {
    int index = netlink::createVeth(*host, "vh0", "vc0");
    auto link = netlink::findLink(*host, index);
    ASSERT_TRUE(link);
    EXPECT_EQ(link->name, "vh0");
    EXPECT_EQ(link->kind, "veth");
    EXPECT_FALSE(link->up());

    netlink::changeLink(*host, index, {.up = true, .mtu = 1400});
    netlink::setUp(*host, netlink::findLink(*host, "vc0")->index);
    netlink::addAddress(*host, index, IpPrefix::parse("10.1.0.1/24"));
    netlink::addAddress(*host, index, IpPrefix::parse("fd01::1"));
    netlink::addRoute(*host, index, IpPrefix::parse("10.2.0.2"));
    netlink::addRoute(*host, index, IpPrefix::parse("fd02::2"));
    netlink::addRoute(*host, index, IpPrefix::parse("10.3.0.0/16"), IpPrefix::parse("10.1.0.9"));
    netlink::addRoute(*host, index, IpPrefix::parse("0.0.0.0/0"), IpPrefix::parse("10.1.0.254"));

    link = netlink::findLink(*host, "vh0");
    ASSERT_TRUE(link);
    EXPECT_TRUE(link->up());
    EXPECT_EQ(link->mtu, 1400u);

    auto addresses = nlAddresses(*host);
    EXPECT_TRUE(addresses.count("10.1.0.1/24 dev vh0"));
    EXPECT_TRUE(addresses.count("fd01::1/128 dev vh0"));
    EXPECT_EQ(addresses, ipAddresses());

    auto routes = nlRoutes(*host);
    EXPECT_TRUE(routes.count("10.2.0.2/32 dev vh0"));
    EXPECT_TRUE(routes.count("fd02::2/128 dev vh0"));
    EXPECT_TRUE(routes.count("10.3.0.0/16 dev vh0 via 10.1.0.9"));
    EXPECT_TRUE(routes.count("0.0.0.0/0 dev vh0 via 10.1.0.254"));
    EXPECT_EQ(routes, ipRoutes());

    // The IPv6 address skipped DAD: usable at once, not "tentative".
    for (const auto& dev : ipJson("-6 addr show dev vh0")) {
        for (const auto& info : dev.at("addr_info")) {
            if (info.at("local") == "fd01::1") {
                EXPECT_FALSE(info.contains("tentative"));
            }
        }
    }
}

TEST_F(NetlinkLayer, AltNamesLookupRenameAndDelete) {
    int index = netlink::createVeth(*host, "vh1", "vc1");
    const std::string alt = "ve-" + std::string(60, 'x');
    netlink::addAltName(*host, index, alt);

    auto byAlt = netlink::findLink(*host, alt);
    ASSERT_TRUE(byAlt);
    EXPECT_EQ(byAlt->index, index);
    EXPECT_TRUE(byAlt->hasAltName(alt));
    auto json = ipJson("link show dev vh1");
    ASSERT_EQ(json.size(), 1u);
    EXPECT_EQ(json[0].at("altnames"), nlohmann::json::array({alt}));

    // Adding it twice is refused by the kernel, with its error text.
    try {
        netlink::addAltName(*host, index, alt);
        ADD_FAILURE() << "duplicate altname accepted";
    } catch (const netlink::Error& error) {
        EXPECT_EQ(error.code(), NLE_EXIST);
        EXPECT_EQ(error.text(), "Object exists");
    }

    netlink::setName(*host, index, "renamed");
    EXPECT_EQ(netlink::findLink(*host, alt)->name, "renamed");
    EXPECT_FALSE(netlink::findLink(*host, "vh1"));

    netlink::deleteLink(*host, index);
    EXPECT_FALSE(netlink::findLink(*host, index));
    EXPECT_FALSE(netlink::findLink(*host, alt));
    EXPECT_FALSE(netlink::findLink(*host, "vc1"));  // the peer went with it
}

TEST_F(NetlinkLayer, ErrorsCarryNetlinkText) {
    netlink::createLink(*host, "d0", "bridge");
    try {
        netlink::createLink(*host, "d0", "bridge");
        ADD_FAILURE() << "duplicate link accepted";
    } catch (const netlink::Error& error) {
        EXPECT_EQ(error.code(), NLE_EXIST);
        EXPECT_EQ(std::string(error.what()), "creating bridge 'd0': Object exists");
    }
    EXPECT_THROW(netlink::deleteLink(*host, 9999), netlink::Error);
    EXPECT_THROW(netlink::createVeth(*host, "this-name-is-too-long", "x"), netlink::Error);
    EXPECT_FALSE(netlink::findLink(*host, "nosuchlink"));
    EXPECT_FALSE(netlink::findLink(*host, 9999));
}

TEST_F(NetlinkLayer, BridgeEnslave) {
    int bridge = netlink::createLink(*host, "br0", "bridge");
    int index = netlink::createVeth(*host, "vh2", "vc2");
    netlink::enslave(*host, index, bridge);
    EXPECT_EQ(netlink::findLink(*host, index)->master, bridge);
    EXPECT_EQ(netlink::findLink(*host, "br0")->kind, "bridge");
    auto json = ipJson("link show dev vh2");
    EXPECT_EQ(json[0].at("master"), "br0");
}

TEST_F(NetlinkLayer, NamespacesPinsSocketsAndMoves) {
    auto pin = runtimeDir / "netns" / "ns1";
    {
        netlink::Namespace ns = netlink::createPinnedNamespace(pin);
        EXPECT_THROW(netlink::createPinnedNamespace(pin), std::system_error);  // pin exists

        // The socket from createPinnedNamespace speaks inside it.
        auto links = netlink::listLinks(ns.socket);
        ASSERT_EQ(links.size(), 1u);
        EXPECT_EQ(links[0].name, "lo");

        // Move a link in (a veth end: this kernel has no dummy driver),
        // a veth peer created in place, a macvlan in place.
        int moved = netlink::createVeth(*host, "d1", "d1-peer");
        netlink::moveToNamespace(*host, moved, ns.fd.get());
        EXPECT_FALSE(netlink::findLink(*host, "d1"));
        netlink::createVeth(*host, "vh3", "eth0", ns.fd.get());
        int parent = netlink::createVeth(*host, "d2", "d2-peer");
        netlink::createMacvlan(*host, "mv-d2", parent, ns.fd.get());
    }
    auto ns = netlink::openPinnedNamespace(pin);
    ASSERT_TRUE(ns);
    EXPECT_TRUE(netlink::findLink(ns->socket, "d1"));
    EXPECT_EQ(netlink::findLink(ns->socket, "eth0")->kind, "veth");
    EXPECT_EQ(netlink::findLink(ns->socket, "mv-d2")->kind, "macvlan");
    EXPECT_FALSE(netlink::findLink(*host, "eth0"));

    // ip(8) inside sees the same.
    std::set<std::string> names;
    for (const auto& link : ipJson("link show", pin)) {
        names.insert(link.at("ifname").get<std::string>());
    }
    EXPECT_EQ(names, (std::set<std::string>{"lo", "d1", "eth0", "mv-d2"}));

    // socketIn on another thread's behalf: our own thread stays put.
    netlink::Socket inside = netlink::socketIn(ns->fd.get());
    EXPECT_TRUE(netlink::findLink(inside, "d1"));
    EXPECT_TRUE(netlink::findLink(*host, "vh3"));

    ns.reset();
    netlink::removePinnedNamespace(pin);
    netlink::removePinnedNamespace(pin);  // idempotent
    EXPECT_FALSE(std::filesystem::exists(pin));
    EXPECT_FALSE(netlink::openPinnedNamespace(pin));
}

TEST_F(NetlinkLayer, PlainFileIsNoNamespace) {
    // A crash between creating the pin file and the bind mount leaves this.
    auto pin = runtimeDir / "netns" / "crashed";
    std::filesystem::create_directories(pin.parent_path());
    { std::ofstream(pin.string()); }
    EXPECT_FALSE(netlink::openPinnedNamespace(pin));
    netlink::removePinnedNamespace(pin);
    EXPECT_FALSE(std::filesystem::exists(pin));
}

}  // namespace
}  // namespace nixos_containers::testing
