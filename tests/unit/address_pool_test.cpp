// The address pools of automatic private networks (issue 29): IPv4 pairs
// past nixos-container's 256, a /64 per container from the IPv6 pool, and
// both kept across a restart of the service, against the fake seams.
#include "address_pool.h"
#include "errors.h"
#include "manager_fixture.h"
#include "settings.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nixos_containers {
namespace {

constexpr const char* kIpv6Pool = "fd12:3456:789a::/48";

ContainerSpec usingAddresses(const std::string& host, const std::string& local, const std::string& host6 = {},
                             const std::string& local6 = {}) {
    ContainerSpec spec;
    spec.privateNetwork = true;
    spec.network.hostAddress = host;
    spec.network.localAddress = local;
    spec.network.hostAddress6 = host6;
    spec.network.localAddress6 = local6;
    return spec;
}

TEST(AddressPoolTest, AllocatesTheFirstFreePairAndNeverTwice) {
    AddressPool pool;
    auto used = usingAddresses("10.233.0.1", "10.233.0.2/24");
    pool.noteUsed(used);
    auto first = pool.allocate();
    EXPECT_EQ(first.hostAddress, "10.233.1.1");
    EXPECT_EQ(first.localAddress, "10.233.1.2");
    EXPECT_TRUE(first.hostAddress6.empty()) << "no IPv6 pool, no IPv6 pair";
    auto second = pool.allocate();
    EXPECT_EQ(second.hostAddress, "10.233.2.1");
    pool.release(first);
    EXPECT_EQ(pool.allocate().hostAddress, "10.233.1.1");
    pool.forget(used);
    EXPECT_EQ(pool.allocate().hostAddress, "10.233.0.1");
}

TEST(AddressPoolTest, TheFirst256AreNixosContainersPairsThenSlash30PairsFollow) {
    AddressPool pool;
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        auto pair = pool.allocate();
        if (i < 256) {
            const auto prefix = "10.233." + std::to_string(i) + ".";
            ASSERT_EQ(pair.hostAddress, prefix + "1");
            ASSERT_EQ(pair.localAddress, prefix + "2");
        }
        ASSERT_TRUE(seen.insert(pair.hostAddress).second) << pair.hostAddress << " handed out twice";
        ASSERT_TRUE(seen.insert(pair.localAddress).second) << pair.localAddress << " handed out twice";
        ASSERT_TRUE(pool.isPoolPair(pair)) << pair.hostAddress;
    }
    // The 257th: the second /30 of the first /24.
    AddressPool fresh;
    for (int i = 0; i < 256; ++i) {
        fresh.allocate();
    }
    auto next = fresh.allocate();
    EXPECT_EQ(next.hostAddress, "10.233.0.5");
    EXPECT_EQ(next.localAddress, "10.233.0.6");
    EXPECT_EQ(fresh.allocate().hostAddress, "10.233.0.9");
}

TEST(AddressPoolTest, AnExplicitAddressInUseIsSkipped) {
    AddressPool pool("10.233.0.0/16", kIpv6Pool);
    for (int i = 0; i < 256; ++i) {
        pool.allocate();
    }
    // Root's explicit container holds one end of the next pair, in other spellings.
    auto explicitly =
        usingAddresses("192.168.1.1", "10.233.0.6/24", "fd12:3456:789a:100::1", "FD12:3456:789A:100:0::2/64");
    pool.noteUsed(explicitly);
    auto pair = pool.allocate();
    EXPECT_EQ(pair.hostAddress, "10.233.0.9");
    EXPECT_EQ(pair.localAddress, "10.233.0.10");
    EXPECT_EQ(pair.hostAddress6, "fd12:3456:789a:101::1");
    EXPECT_EQ(pair.localAddress6, "fd12:3456:789a:101::2");
}

TEST(AddressPoolTest, EveryAutomaticNetworkGetsItsOwnSlash64) {
    AddressPool pool("10.233.0.0/16", kIpv6Pool);
    auto first = pool.allocate();
    EXPECT_EQ(first.hostAddress, "10.233.0.1");
    EXPECT_EQ(first.hostAddress6, "fd12:3456:789a::1");
    EXPECT_EQ(first.localAddress6, "fd12:3456:789a::2");
    std::set<std::string> seen{first.hostAddress6, first.localAddress6};
    for (int i = 1; i < 2000; ++i) {
        auto pair = pool.allocate();
        ASSERT_TRUE(seen.insert(pair.hostAddress6).second) << pair.hostAddress6 << " handed out twice";
        ASSERT_TRUE(seen.insert(pair.localAddress6).second) << pair.localAddress6 << " handed out twice";
        ASSERT_TRUE(pool.isPoolPair(pair)) << pair.hostAddress6;
    }
    pool.release(first);
    auto again = pool.allocate();
    EXPECT_EQ(again.hostAddress, "10.233.0.1");
    EXPECT_EQ(again.hostAddress6, "fd12:3456:789a::1");
}

TEST(AddressPoolTest, ReleasedPairsAreHandedOutAgainLowestFirst) {
    AddressPool pool("10.233.0.0/16", kIpv6Pool);
    std::vector<NetworkOptions> pairs;
    for (int i = 0; i < 300; ++i) {
        pairs.push_back(pool.allocate());
    }
    pool.release(pairs[280]);  // 10.233.0.101/.102 and :118::
    pool.release(pairs[100]);  // 10.233.100.1/.2 and :64::
    ContainerSpec local;       // an explicit container's: one end freed frees no pair
    local.network.localAddress = pairs[290].localAddress;
    local.network.localAddress6 = pairs[290].localAddress6;
    pool.noteUsed(local);
    pool.forget(local);
    EXPECT_EQ(pool.allocate(), pairs[100]);
    EXPECT_EQ(pool.allocate(), pairs[280]);
    const auto next = pool.allocate();
    EXPECT_EQ(next.hostAddress, "10.233.0.181");
    EXPECT_EQ(next.hostAddress6, "fd12:3456:789a:12c::1");
}

TEST(AddressPoolTest, RunsOutWithANamedErrorAndHoldsNothing) {
    AddressPool pool("10.1.2.0/28", "fd00:1:2:2::/63");
    auto held = pool.allocate();
    EXPECT_EQ(held.hostAddress, "10.1.2.1");
    EXPECT_EQ(held.hostAddress6, "fd00:1:2:2::1");
    EXPECT_EQ(pool.allocate().hostAddress6, "fd00:1:2:3::1");
    try {
        pool.allocate();
        FAIL() << "expected LimitsExceeded: the /63 has two /64s";
    } catch (const ContainerError& error) {
        EXPECT_EQ(error.code(), ErrorCode::LimitsExceeded);
        EXPECT_NE(std::string(error.what()).find("fd00:1:2:2::/63"), std::string::npos) << error.what();
    }
    // A failed allocation holds nothing: with one pair in each pool, the
    // IPv4 pair is still free once the IPv6 one is.
    AddressPool one("10.1.2.0/30", "fd00:1:2:3::/64");
    auto holder = usingAddresses("192.168.1.1", "192.168.1.2", "fd00:1:2:3::1", "fd00:1:2:3::2");
    one.noteUsed(holder);
    EXPECT_THROW(one.allocate(), ContainerError);
    one.forget(holder);
    EXPECT_EQ(one.allocate().hostAddress, "10.1.2.1");
    AddressPool four("10.1.2.0/28");
    for (const auto* host : {"10.1.2.1", "10.1.2.5", "10.1.2.9", "10.1.2.13"}) {
        EXPECT_EQ(four.allocate().hostAddress, host);
    }
    EXPECT_THROW(four.allocate(), ContainerError);
}

TEST(AddressPoolTest, OnlyTheServicesOwnPairsArePoolPairs) {
    AddressPool pool("10.233.0.0/16", kIpv6Pool);
    EXPECT_TRUE(pool.isPoolPair(usingAddresses("10.233.7.1", "10.233.7.2").network));
    EXPECT_TRUE(pool.isPoolPair(usingAddresses("10.233.7.5", "10.233.7.6").network));
    EXPECT_TRUE(pool.isPoolPair(
        usingAddresses("10.233.7.5", "10.233.7.6", "fd12:3456:789a:4::1", "fd12:3456:789a:4::2").network));
    EXPECT_FALSE(pool.isPoolPair(usingAddresses("10.233.7.6", "10.233.7.7").network));
    EXPECT_FALSE(pool.isPoolPair(usingAddresses("10.233.7.1", "10.233.7.2/24").network));
    EXPECT_FALSE(pool.isPoolPair(usingAddresses("10.234.7.1", "10.234.7.2").network));
    EXPECT_FALSE(pool.isPoolPair(usingAddresses("10.233.7.1", "10.233.7.2", "fc00::1", "fc00::2").network));
    EXPECT_FALSE(pool.isPoolPair(
        usingAddresses("10.233.7.1", "10.233.7.2", "fd12:3456:789a:4::1", "fd12:3456:789a:5::2").network));
    auto bridged = usingAddresses("10.233.7.1", "10.233.7.2");
    bridged.network.hostBridge = "br0";
    EXPECT_FALSE(pool.isPoolPair(bridged.network));
    // Another pool: its own pairs, and nixos-container's still.
    AddressPool other("172.20.0.0/16");
    EXPECT_TRUE(other.isPoolPair(usingAddresses("172.20.3.9", "172.20.3.10").network));
    EXPECT_TRUE(other.isPoolPair(usingAddresses("10.233.3.1", "10.233.3.2").network));
    EXPECT_FALSE(other.isPoolPair(usingAddresses("10.233.3.5", "10.233.3.6").network));
}

TEST(AddressPoolTest, ThePoolsAreSettings) {
    auto settings = Settings::fromEnvironment({});
    EXPECT_EQ(settings.ipv4Pool, "10.233.0.0/16");
    EXPECT_EQ(settings.ipv6Pool, "");
    settings = Settings::fromEnvironment(
        {{"NIXOS_CONTAINERS_IPV4_POOL", "172.20.0.0/20"}, {"NIXOS_CONTAINERS_IPV6_POOL", kIpv6Pool}});
    EXPECT_EQ(settings.ipv4Pool, "172.20.0.0/20");
    EXPECT_EQ(settings.ipv6Pool, kIpv6Pool);
    for (const auto* bad :
         {"10.233.0.0/31", "10.233.1.0/16", "10.233.0.0", "fd00::/48", "x/16", "10.0.0.0/7"}) {
        EXPECT_THROW(Settings::fromEnvironment({{"NIXOS_CONTAINERS_IPV4_POOL", bad}}), std::invalid_argument)
            << bad;
    }
    for (const auto* bad : {"fd00::/65", "fd00::1/48", "10.0.0.0/16", "fd00::"}) {
        EXPECT_THROW(Settings::fromEnvironment({{"NIXOS_CONTAINERS_IPV6_POOL", bad}}), std::invalid_argument)
            << bad;
    }
}

TEST(AddressPoolTest, TheDefaultIpv6PoolIsAUlaSlash48OfTheMachineId) {
    const auto pool = ulaPoolFromMachineId("0123456789abcdef0123456789abcdef");
    EXPECT_EQ(pool, ulaPoolFromMachineId("0123456789abcdef0123456789abcdef")) << "stable";
    EXPECT_NE(pool, ulaPoolFromMachineId("0123456789abcdef0123456789abcdee"));
    EXPECT_TRUE(pool.starts_with("fd")) << pool;
    EXPECT_TRUE(pool.ends_with("::/48")) << pool;
    EXPECT_EQ(pool.find("0123456789"), std::string::npos) << pool;
    EXPECT_NO_THROW(AddressPool("10.233.0.0/16", pool));
}

// ---------------------------------------------------------------- the manager

class AddressPoolManagerTest : public ContainerManagerTest {
protected:
    AddressPoolManagerTest() { settings.ipv6Pool = kIpv6Pool; }

    ContainerSpec automatic() {
        auto spec = systemSpec();
        spec.privateNetwork = true;
        return spec;
    }

    // ApplyDeclarative of one automatic private network "web": its result.
    std::string applyWeb() {
        nlohmann::json set = {
            {"Containers",
             {{"web", {{"Spec", {{"SystemPath", systemSpec().systemPath}, {"PrivateNetwork", true}}}}}}}};
        std::string result = "no answer";
        manager().applyDeclarative(root, set.dump(),
                                   [&result](Outcome<std::vector<DeclarativeOutcome>> done) {
                                       result = done.ok() && done.value().size() == 1
                                                    ? done.value()[0].result + done.value()[0].error
                                                    : "failed";
                                   });
        loop.drain();
        return result;
    }
};

TEST_F(AddressPoolManagerTest, NoAddressIsHandedOutTwiceAcrossARestartInTheMiddle) {
    // Root's explicit container holds what would be the 257th pair and a /64.
    auto own = systemSpec();
    own.privateNetwork = true;
    own.network =
        usingAddresses("10.233.0.5", "10.233.0.6", "fd12:3456:789a:101::1", "fd12:3456:789a:101::2").network;
    ASSERT_TRUE(create("own", own, root).ok());
    for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE(create("c" + std::to_string(i), automatic(), root).ok()) << i;
    }
    manager_.reset();  // the service restarts; the pools are rebuilt from the confs
    for (int i = 300; i < 310; ++i) {
        auto created = create("c" + std::to_string(i), automatic(), root);
        ASSERT_TRUE(created.ok()) << i << ": " << created.error().what();
    }
    std::set<std::string> seen;
    for (int i = 0; i < 310; ++i) {
        const auto& network = manager().get("c" + std::to_string(i)).spec.network;
        ASSERT_FALSE(network.hostAddress6.empty()) << "c" << i << " is not dual-stack";
        for (const auto* address :
             {&network.hostAddress, &network.localAddress, &network.hostAddress6, &network.localAddress6}) {
            ASSERT_TRUE(seen.insert(*address).second) << *address << " handed out twice (c" << i << ")";
        }
    }
    for (const auto* address :
         {"10.233.0.5", "10.233.0.6", "fd12:3456:789a:101::1", "fd12:3456:789a:101::2"}) {
        EXPECT_FALSE(seen.contains(address)) << address << " of root's explicit container was handed out";
    }
    EXPECT_EQ(manager().get("c0").spec.network.hostAddress, "10.233.0.1");
    // The 301st pair: root's container holds the 257th.
    EXPECT_EQ(manager().get("c299").spec.network.hostAddress, "10.233.0.181");
}

TEST_F(AddressPoolManagerTest, ExplicitIpv4StaysIpv4OnlyAndPrivateNetworkOffDropsBothPairs) {
    auto own = automatic();
    own.network.hostAddress = "192.168.7.1";
    own.network.localAddress = "192.168.7.2";
    ASSERT_TRUE(create("own", own, root).ok());
    EXPECT_TRUE(manager().get("own").spec.network.hostAddress6.empty());

    ASSERT_TRUE(create("web", automatic(), root).ok());
    ASSERT_EQ(manager().get("web").spec.network.localAddress6, "fd12:3456:789a::2");
    SpecPatch off;
    off.set("PrivateNetwork", [](ContainerSpec& changed) { changed.privateNetwork = false; });
    auto status = update("web", off, root);
    ASSERT_TRUE(status.ok()) << status.error().what();
    EXPECT_EQ(manager().get("web").spec.network, NetworkOptions{});
    std::ifstream conf(settings.configDir / "web.conf");
    std::stringstream text;
    text << conf.rdbuf();
    EXPECT_EQ(text.str().find("fd12:"), std::string::npos) << text.str();
    // Both pairs are free again.
    ASSERT_TRUE(create("db", automatic(), root).ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress, "10.233.0.1");
    EXPECT_EQ(manager().get("db").spec.network.hostAddress6, "fd12:3456:789a::1");
}

TEST_F(AddressPoolManagerTest, ADeclaredAutomaticNetworkKeepsBothPairsAcrossAppliesAndRestarts) {
    ASSERT_EQ(applyWeb(), "created");
    const auto network = manager().get("web").spec.network;
    EXPECT_EQ(network.hostAddress, "10.233.0.1");
    EXPECT_EQ(network.localAddress6, "fd12:3456:789a::2");
    EXPECT_EQ(applyWeb(), "unchanged");
    manager_.reset();
    EXPECT_EQ(applyWeb(), "unchanged");
    EXPECT_EQ(manager().get("web").spec.network, network);
    ASSERT_TRUE(create("db", automatic(), root).ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress6, "fd12:3456:789a:1::1");
}

}  // namespace
}  // namespace nixos_containers
