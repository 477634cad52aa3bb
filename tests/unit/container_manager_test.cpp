// The front: validate, authorise, take the container; Busy and limits, against the fake seams
// (tests/support/fake_seams.h). The same behaviours run against the real programs in tests/bus and
// tests/sandbox.
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// show-host-key: read beneath the container's root, never through a link out of it.
TEST_F(ContainerManagerTest, HostKeyIsReadBeneathTheRoot) {
    auto hostKey = [this](const std::string& name) {
        std::optional<Outcome<std::string>> answer;
        manager().hostKey(name, [&answer](Outcome<std::string> key) { answer = std::move(key); });
        loop.drain();
        return answer.value_or(Outcome<std::string>(ContainerError(ErrorCode::Failed, "no answer")));
    };
    EXPECT_EQ(hostKey("nope").error().code(), ErrorCode::NoSuchContainer);
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    const auto ssh = manager().get("web").root / "etc/ssh";
    EXPECT_EQ(hostKey("web").error().code(), ErrorCode::IOError);
    std::filesystem::create_directories(ssh);
    std::ofstream(ssh / "ssh_host_ed25519_key.pub") << "ssh-ed25519 AAAA root@web\n";
    auto key = hostKey("web");
    ASSERT_TRUE(key.ok()) << key.error().what();
    EXPECT_EQ(key.value(), "ssh-ed25519 AAAA root@web\n");
    std::filesystem::remove(ssh / "ssh_host_ed25519_key.pub");
    std::ofstream(top / "host.pub") << "the host's own key\n";
    std::filesystem::create_symlink(top / "host.pub", ssh / "ssh_host_ed25519_key.pub");
    EXPECT_EQ(hostKey("web").error().code(), ErrorCode::IOError);
}

// Create and Update have rows, but carry a spec or a patch: perform, which
// has neither, refuses them before polkit is asked.
TEST_F(ContainerManagerTest, PerformRefusesTheVerbsThatCarryASpec) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    const auto asked = authorizer.checks.size();
    for (auto verb : {Verb::Create, Verb::Update, Verb::SwitchGeneration}) {
        auto status = perform(verb, "web", user);
        ASSERT_FALSE(status.ok()) << toString(verb);
        EXPECT_EQ(status.error().code(), ErrorCode::InvalidArgument) << toString(verb);
    }
    EXPECT_EQ(authorizer.checks.size(), asked);
    EXPECT_EQ(manager().get("web").operation, "");
}

TEST_F(ContainerManagerTest, InvalidInputIsRefusedBeforeAuthorizationAndLeavesNothing) {
    auto spec = systemSpec();
    spec.forwardPorts = {{"sctp", 80, 0}};
    spec.privateNetwork = true;
    auto created = create("web", spec, user);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty());
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));

    auto badName = create("a/b", systemSpec(), root);
    ASSERT_FALSE(badName.ok());
    EXPECT_THAT(badName.error().what(), HasSubstr("'a/b'"));
}

TEST_F(ContainerManagerTest, ACallerWaitingForPolkitHoldsNothing) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    authorizer.answers[61001] = Authorization::Allowed;
    authorizer.hold = true;  // a polkit agent that takes its time
    std::vector<Status> started;
    std::vector<Outcome<std::string>> created;
    manager().perform(user, Verb::Start, "web", [&](Status status) { started.push_back(status); });
    manager().create(user, "db", spec, [&](Outcome<std::string> result) { created.push_back(result); });
    loop.drain();
    EXPECT_TRUE(manager().get("web").operation.empty());
    EXPECT_EQ(manager().operationsInFlight(), 0U);
    // Root is not blocked, and the name and addresses are still free.
    EXPECT_TRUE(perform(Verb::Stop, "web", root).ok());
    auto competing = create("db", spec, root);
    ASSERT_TRUE(competing.ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress, "10.233.0.1");
    // When polkit finally answers, the world is checked again.
    for (auto& answer : authorizer.held) {
        answer();
    }
    loop.drain();
    ASSERT_EQ(started.size(), 1U);
    EXPECT_TRUE(started[0].ok());
    ASSERT_EQ(created.size(), 1U);
    ASSERT_FALSE(created[0].ok());
    EXPECT_EQ(created[0].error().code(), ErrorCode::AlreadyExists);
}

TEST_F(ContainerManagerTest, ASecondOperationOnABusyContainerIsBusy) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    systemd.holdStarts = true;
    std::vector<Status> answers;
    manager().perform(root, Verb::Start, "web", [&](Status status) { answers.push_back(status); });
    loop.drain();
    EXPECT_EQ(manager().get("web").state, ContainerState::Starting);
    for (auto verb : {Verb::Start, Verb::Restart, Verb::Reload, Verb::Destroy}) {
        auto busy = perform(verb, "web", root);
        ASSERT_FALSE(busy.ok());
        EXPECT_EQ(busy.error().code(), ErrorCode::Busy) << toString(verb);
    }
    EXPECT_TRUE(answers.empty());
    for (auto& finish : systemd.held) {
        finish();
    }
    loop.drain();
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_TRUE(answers[0].ok());
}

TEST_F(ContainerManagerTest, TooManyOperationsInFlightIsLimitsExceeded) {
    settings.maxOperations = 1;
    ASSERT_TRUE(create("a", systemSpec(), root).ok());
    ASSERT_TRUE(create("b", systemSpec(), root).ok());
    systemd.holdStarts = true;
    manager().perform(root, Verb::Start, "a", [](const Status&) {});
    loop.drain();
    auto limited = perform(Verb::Start, "b", root);
    ASSERT_FALSE(limited.ok());
    EXPECT_EQ(limited.error().code(), ErrorCode::LimitsExceeded);
}

// More AutoStart containers than operations may be in flight: they queue
// (a window of half the bound), none fails with LimitsExceeded.
TEST_F(ContainerManagerTest, AutoStartQueuesBeyondTheBoundOnOperations) {
    settings.maxOperations = 4;
    auto spec = systemSpec();
    spec.autoStart = true;
    const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f", "g"};
    for (const auto& name : names) {
        ASSERT_TRUE(create(name, spec, root).ok());
    }
    manager_.reset();  // a new service finds them on disk
    systemd.holdStarts = true;
    manager();                           // recovers, then starts the AutoStart ones
    EXPECT_EQ(systemd.held.size(), 2U);  // the window: maxOperations / 2
    EXPECT_EQ(manager().operationsInFlight(), 2U);
    // Room is left for callers meanwhile.
    ASSERT_TRUE(create("h", systemSpec(), root).ok());
    // Each start that ends lets the next one in.
    while (systemd.held.size() < names.size()) {
        auto before = systemd.held.size();
        for (auto& finish : systemd.held) {
            if (finish) {
                loop.post(std::exchange(finish, nullptr));
            }
        }
        loop.drain();
        ASSERT_GT(systemd.held.size(), before);
    }
    for (auto& finish : systemd.held) {
        if (finish) {
            loop.post(std::exchange(finish, nullptr));
        }
    }
    loop.drain();
    for (const auto& name : names) {
        EXPECT_EQ(manager().get(name).state, ContainerState::Running) << name;
    }
    EXPECT_EQ(manager().operationsInFlight(), 0U);
}

}  // namespace
}  // namespace nixos_containers
