// The registry's transactions (ContainerChange): what a Create or Update
// holds from its checks until it is committed or dropped, and the one
// notification a commit sends. The verbs that use them are covered by
// create_verb_test, update_verb_test and rollback_verb_test.
#include "container_registry.h"
#include "fake_seams.h"
#include "network_plan.h"
#include "temp_settings.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <utility>

namespace nixos_containers {
namespace {

struct Notifications final : ContainerObserver {
    void containerAdded(const Container& container) override { added.push_back(container.name); }
    void containerRemoved(const std::string& name) override { removed.push_back(name); }
    void containerChanged(const Container& container, ContainerFields fields) override {
        changed.emplace_back(container.name, fields);
    }
    void buildOutput(const std::string&, const std::string&, const std::string&) override {}
    std::vector<std::string> added, removed;
    std::vector<std::pair<std::string, ContainerFields>> changed;
};

template <typename Action>
void expectError(ErrorCode code, Action&& action) {
    try {
        action();
        ADD_FAILURE() << "accepted; expected " << errorName(code);
    } catch (const ContainerError& error) {
        EXPECT_EQ(error.code(), code) << error.what();
    }
}

std::filesystem::path temporaryTop() {
    char pattern[] = "/tmp/nc-change-XXXXXX";
    return mkdtemp(pattern);
}

class ContainerChangeTest : public ::testing::Test {
protected:
    ~ContainerChangeTest() override { std::filesystem::remove_all(top); }

    // A private network the pool gives its pair to, forwarding tcp port 8080.
    static ContainerSpec pooledSpec() {
        ContainerSpec spec;
        spec.systemPath = "/nix/store/abc-system";
        spec.privateNetwork = true;
        spec.forwardPorts = {{"tcp", 8080, 80}};
        return spec;
    }
    // Another container's spec that wants the same host port.
    static ContainerSpec samePort() {
        ContainerSpec spec;
        spec.forwardPorts = {{"tcp", 8080, 8080}};
        return spec;
    }
    static EnvFile confOwnedBy(std::uint32_t uid) {
        EnvFile conf;
        conf.set(std::string(kOwnerConfKey), std::to_string(uid));
        return conf;
    }
    // The pair the pool gives next, given back at once.
    std::string nextPoolAddress() {
        auto pair = registry->addresses().allocate();
        registry->addresses().release(pair);
        return pair.hostAddress;
    }
    // "web" committed with pooledSpec(), its notifications cleared.
    void createWeb() {
        auto change = registry->beginCreate("web", pooledSpec(), 61001);
        change.commit(confOwnedBy(61001));
        observer.added.clear();
        observer.changed.clear();
    }

    std::filesystem::path top = temporaryTop();
    Settings settings = settingsUnder(top);
    Deferred loop;
    FakeSystemd systemd{loop};
    FakeMachines machines{loop};
    FakeNetwork network;
    FakeBindPins binds;
    FakeWorker worker{loop};
    Notifications observer;
    ContainerStore store{settings};
    BackgroundQueue background{worker};
    HostNetwork hostNetwork{settings, network, binds, background};
    std::unique_ptr<ContainerRegistry> registry =
        std::make_unique<ContainerRegistry>(settings, store, systemd, machines, hostNetwork, observer);
};

TEST_F(ContainerChangeTest, ADroppedCreateReleasesItsNamePortsAndAddresses) {
    const auto firstPair = nextPoolAddress();
    {
        auto change = registry->beginCreate("web", pooledSpec(), 61001);
        EXPECT_EQ(change.spec().network.hostAddress, firstPair) << "the pool's pair is the change's";
        EXPECT_TRUE(registry->held("web"));
        EXPECT_EQ(registry->ownedBy(61001), 1U);
        EXPECT_THROW(registry->checkPortsFree("db", samePort()), ContainerError);
        EXPECT_NE(nextPoolAddress(), firstPair);
    }
    EXPECT_FALSE(registry->held("web"));
    EXPECT_EQ(registry->ownedBy(61001), 0U);
    EXPECT_NO_THROW(registry->checkPortsFree("db", samePort()));
    EXPECT_EQ(nextPoolAddress(), firstPair);
    EXPECT_EQ(registry->find("web"), nullptr);
    EXPECT_TRUE(observer.added.empty());
    EXPECT_TRUE(observer.changed.empty());
}

TEST_F(ContainerChangeTest, ARolledBackUpdateReleasesWhatItsNewSpecHeldAndKeepsTheContainers) {
    createWeb();
    const auto webPair = registry->get("web").spec.network.hostAddress;
    auto bigger = registry->get("web").spec;
    bigger.forwardPorts.push_back({"udp", 5353, 53});
    bigger.network = {};  // a pair of the pool again
    auto change = registry->beginChange("web", bigger);
    const auto heldPair = change.spec().network.hostAddress;
    EXPECT_NE(heldPair, webPair);
    ContainerSpec wantsUdp;
    wantsUdp.forwardPorts = {{"udp", 5353, 53}};
    EXPECT_THROW(registry->checkPortsFree("db", wantsUdp), ContainerError);
    change.rollback();
    EXPECT_FALSE(change.held());
    EXPECT_FALSE(registry->held("web"));
    EXPECT_NO_THROW(registry->checkPortsFree("db", wantsUdp));
    EXPECT_THROW(registry->checkPortsFree("db", samePort()), ContainerError) << "web's own port stays";
    EXPECT_EQ(nextPoolAddress(), heldPair);
    EXPECT_EQ(registry->get("web").spec.network.hostAddress, webPair);
    EXPECT_TRUE(observer.changed.empty());
}

TEST_F(ContainerChangeTest, ASecondChangeOfAHeldNameIsRefused) {
    auto creating = registry->beginCreate("web", pooledSpec(), 61001);
    expectError(ErrorCode::AlreadyExists, [&] { (void)registry->beginCreate("web", pooledSpec(), 61002); });
    creating.commit(confOwnedBy(61001));
    expectError(ErrorCode::AlreadyExists, [&] { (void)registry->beginCreate("web", pooledSpec(), 61002); });
    auto updating = registry->beginChange("web", pooledSpec());
    expectError(ErrorCode::Busy, [&] { (void)registry->beginChange("web", pooledSpec()); });
    expectError(ErrorCode::NoSuchContainer, [&] { (void)registry->beginChange("db", pooledSpec()); });
}

TEST_F(ContainerChangeTest, ACreatesCommitPublishesTheContainerOnce) {
    auto change = registry->beginCreate("web", pooledSpec(), 61001);
    const auto pair = change.spec().network.hostAddress;
    auto conf = confOwnedBy(61001);
    conf.set(std::string(kDeclarativeConfKey), "1");
    change.commit(conf);
    EXPECT_FALSE(change.held());
    EXPECT_EQ(observer.added, std::vector<std::string>{"web"});
    EXPECT_TRUE(observer.changed.empty());
    const auto& web = registry->get("web");
    EXPECT_EQ(web.spec.network.hostAddress, pair);
    EXPECT_EQ(web.owner, 61001U);
    EXPECT_TRUE(web.declarative);
    EXPECT_EQ(web.hostInterface, hostInterfaceName("web"));
    EXPECT_FALSE(registry->held("web"));
    EXPECT_EQ(registry->ownedBy(61001), 1U);
    change.rollback();  // nothing once committed
    EXPECT_NE(nextPoolAddress(), pair) << "the container's pair stays taken";
}

TEST_F(ContainerChangeTest, AnUpdatesCommitNotifiesOnceWithWhatChanged) {
    createWeb();
    const auto webPair = registry->get("web").spec.network.hostAddress;
    auto hostNetworkOnly = registry->get("web").spec;
    hostNetworkOnly.privateNetwork = false;
    hostNetworkOnly.network = {};
    hostNetworkOnly.forwardPorts.clear();
    auto change = registry->beginChange("web", hostNetworkOnly);
    change.commit(confOwnedBy(61001));
    ASSERT_EQ(observer.changed.size(), 1U);
    const auto& [name, fields] = observer.changed[0];
    EXPECT_EQ(name, "web");
    EXPECT_TRUE(fields.has(ContainerField::Spec));
    EXPECT_TRUE(fields.has(ContainerField::Generations));
    EXPECT_TRUE(fields.has(ContainerField::HostInterface));
    EXPECT_TRUE(fields.has(ContainerField::Addresses));
    EXPECT_FALSE(fields.has(ContainerField::RootDirectory));
    EXPECT_FALSE(fields.has(ContainerField::State));
    const auto& web = registry->get("web");
    EXPECT_FALSE(web.spec.privateNetwork);
    EXPECT_EQ(web.hostInterface, "");
    EXPECT_TRUE(web.addresses.empty());
    EXPECT_NE(web.conf.find(kOwnerConfKey), nullptr);
    EXPECT_TRUE(observer.added.empty());
    EXPECT_EQ(nextPoolAddress(), webPair) << "the old spec's pair is free";
    EXPECT_NO_THROW(registry->checkPortsFree("db", samePort()));
}

TEST_F(ContainerChangeTest, AMovedChangeIsHeldByItsNewOwnerAlone) {
    auto first = registry->beginCreate("web", pooledSpec(), 61001);
    ContainerChange second = std::move(first);
    EXPECT_FALSE(first.held());  // NOLINT(bugprone-use-after-move): what a move leaves
    EXPECT_TRUE(second.held());
    first.rollback();
    EXPECT_TRUE(registry->held("web"));
    second.rollback();
    EXPECT_FALSE(registry->held("web"));
}

// Work still queued when the service stops may outlive the registry.
TEST_F(ContainerChangeTest, AChangeThatOutlivesItsRegistryReleasesNothing) {
    auto change = registry->beginCreate("web", pooledSpec(), 61001);
    registry.reset();
    change.rollback();
    EXPECT_FALSE(change.held());
}

}  // namespace
}  // namespace nixos_containers
