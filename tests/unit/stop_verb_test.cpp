// Stop and Terminate, and the start they cancel, against the fake seams (tests/support/fake_seams.h). The
// same behaviours run against the real programs in tests/bus and tests/sandbox.
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

using StopVerbTest = ContainerManagerTest;

TEST_F(StopVerbTest, AStopWhileTheJobRunsCancelsTheStart) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    systemd.holdStarts = true;
    std::optional<Status> started;
    manager().perform(root, Verb::Start, "web", [&](Status status) { started = std::move(status); });
    loop.drain();
    ASSERT_EQ(systemd.held.size(), 1U);
    EXPECT_EQ(manager().get("web").state, ContainerState::Starting);

    auto stopped = perform(Verb::Stop, "web", root);  // drains: the cancel, then the stop
    EXPECT_TRUE(stopped.ok()) << stopped.error().what();
    ASSERT_TRUE(started.has_value());
    ASSERT_FALSE(started->ok());
    EXPECT_EQ(started->error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started->error().what(), HasSubstr("the start of 'web' was cancelled by a stop"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_TRUE(manager().get("web").operation.empty());
    EXPECT_THAT(network.events, Contains("release web"));
    EXPECT_EQ(manager().operationsInFlight(), 0U);
    // Killed, not halted: nspawn can lose a halt that comes before the init runs.
    ASSERT_EQ(systemd.killed.size(), 1U);
    EXPECT_EQ(systemd.killed[0], std::make_pair(std::string("nixos-container@web.service"), int{SIGKILL}));
}

TEST_F(StopVerbTest, AStopBeforeTheUnitIsAskedForStartsNothing) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    // The Terminate comes while the Start is in its pre-start steps.
    auto [started, stopped] = performRacing(Verb::Start, Verb::Terminate, "web");
    ASSERT_TRUE(started.has_value());
    EXPECT_EQ(started->error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started->error().what(), HasSubstr("cancelled by a terminate"));
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok()) << stopped->error().what();
    EXPECT_TRUE(systemd.started.empty());  // no unit was ever asked for
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

TEST_F(StopVerbTest, OnlyOneStopWaitsForACancelledStart) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    systemd.holdStarts = true;
    std::vector<Status> answers;
    manager().perform(root, Verb::Start, "web", [&](Status status) { answers.push_back(status); });
    loop.drain();
    std::optional<Status> first;
    manager().perform(root, Verb::Stop, "web", [&](Status status) { first = std::move(status); });
    auto second = perform(Verb::Stop, "web", root);
    EXPECT_EQ(second.error().code(), ErrorCode::Busy);
    loop.drain();
    ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(first->ok());
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_EQ(answers[0].error().code(), ErrorCode::StartFailed);
}

// nspawn leaves .#NAME.lck beside the root when it is killed.

}  // namespace
}  // namespace nixos_containers
