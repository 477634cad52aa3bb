// Create: reservation of names, addresses and ports, and nothing left behind, against the fake seams
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

using CreateVerbTest = ContainerManagerTest;

TEST_F(CreateVerbTest, CreateWritesTheConfAndPublishesTheContainer) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    auto created = create("web", spec, root);
    ASSERT_TRUE(created.ok()) << created.error().what();
    EXPECT_TRUE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_TRUE(fs::is_symlink(settings.profilesDir / "web/system"));
    EXPECT_THAT(observer.added, Contains("web"));
    const auto& container = manager().get("web");
    EXPECT_EQ(container.spec.network.hostAddress, "10.233.0.1");
    EXPECT_EQ(container.spec.network.localAddress, "10.233.0.2");
    EXPECT_EQ(container.hostInterface, "ve-web");
    // A second private network gets the next pair.
    ASSERT_TRUE(create("db", spec, root).ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress, "10.233.1.1");
}

TEST_F(CreateVerbTest, AHostPortIsForwardedToOneContainerOnly) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    spec.forwardPorts = {{"tcp", 8080, 80}};
    ASSERT_TRUE(create("web", spec, root).ok());
    auto clash = create("web2", spec, root);
    ASSERT_FALSE(clash.ok());
    EXPECT_EQ(clash.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(clash.error().what(), HasSubstr("tcp port 8080 is already forwarded to container 'web'"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web2.conf"));
    spec.forwardPorts = {{"udp", 8080, 80}};  // another protocol is another port
    EXPECT_TRUE(create("web3", spec, root).ok());
}

TEST_F(CreateVerbTest, DeniedCreateChangesNothingAndFreesTheName) {
    authorizer.answers[61001] = Authorization::Denied;
    auto denied = create("web", systemSpec(), user);
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.error().code(), ErrorCode::AccessDenied);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.create");
    EXPECT_EQ(authorizer.checks[0].second.at("container"), "web");
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));
    EXPECT_EQ(manager().operationsInFlight(), 0U);

    authorizer.answers[61001] = Authorization::ChallengeRequired;
    auto challenged = create("web", systemSpec(), user);
    ASSERT_FALSE(challenged.ok());
    EXPECT_EQ(challenged.error().code(), ErrorCode::InteractiveAuthorizationRequired);

    authorizer.answers[61001] = Authorization::Allowed;
    EXPECT_TRUE(create("web", systemSpec(), user).ok());
}

}  // namespace
}  // namespace nixos_containers
