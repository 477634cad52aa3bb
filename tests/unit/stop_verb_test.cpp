// Stop and Terminate, and the start they cancel, against the fake seams (tests/support/fake_seams.h). The
// same behaviours run against the real programs in tests/bus and tests/sandbox.
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
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

// The Stop answers once the unit is stopped; the host's links go after, in
// the container's background queue, and a Start sent at once queues behind
// their removal: it finds a clean host.
TEST_F(StopVerbTest, TheStopAnswersBeforeTheLinksGoAndAStartRightAfterQueuesBehindThem) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    spec.network.hostAddress = "10.233.0.1";
    spec.network.localAddress = "10.233.0.2";
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    network.events.clear();

    worker.hold = true;  // the removal of the links waits
    auto stopped = perform(Verb::Stop, "web", root);
    EXPECT_TRUE(stopped.ok()) << stopped.error().what();
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_TRUE(network.events.empty());  // answered, the release still queued
    ASSERT_EQ(worker.held.size(), 1U);

    std::optional<Status> started;
    manager().perform(root, Verb::Start, "web", [&](Status status) { started = std::move(status); });
    loop.drain();
    EXPECT_FALSE(started.has_value());      // behind the release
    EXPECT_EQ(systemd.started.size(), 1U);  // no second unit yet
    EXPECT_EQ(worker.held.size(), 1U);      // one job at a time per container

    worker.runHeld();
    loop.drain();
    ASSERT_TRUE(started.has_value());
    EXPECT_TRUE(started->ok()) << started->error().what();
    // The Stop's release, then the Start's own "release stale, then prepare".
    EXPECT_THAT(network.events, ElementsAre("release web", "release web", "prepare web"));
    EXPECT_EQ(systemd.started.size(), 2U);
}

TEST_F(StopVerbTest, OnceTheQueueHasRunNothingIsLeft) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    network.events.clear();
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());  // drains: the release ran
    EXPECT_THAT(network.events, ElementsAre("release web"));
    EXPECT_EQ(manager().operationsInFlight(), 0U);
}

// An ephemeral root is part of "gone": the Stop answers once it is removed
// (after the links, in the same queue), and a Start after that makes it anew.
TEST_F(StopVerbTest, AnEphemeralRootIsGoneWhenTheStopAnswers) {
    auto spec = systemSpec();
    spec.ephemeral = true;
    ASSERT_TRUE(create("tmp", spec, root).ok());
    ASSERT_TRUE(perform(Verb::Start, "tmp", root).ok());
    const auto ephemeralRoot = settings.runtimeDir / "roots" / "tmp";
    ASSERT_TRUE(fs::exists(ephemeralRoot));

    worker.hold = true;
    std::optional<Status> stopped;
    manager().perform(root, Verb::Stop, "tmp", [&](Status status) { stopped = std::move(status); });
    loop.drain();
    EXPECT_FALSE(stopped.has_value());  // waits for the root
    worker.runHeld();
    loop.drain();
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok()) << stopped->error().what();
    EXPECT_FALSE(fs::exists(ephemeralRoot));
    ASSERT_TRUE(perform(Verb::Start, "tmp", root).ok());
    EXPECT_TRUE(fs::exists(ephemeralRoot));
}

}  // namespace
}  // namespace nixos_containers
