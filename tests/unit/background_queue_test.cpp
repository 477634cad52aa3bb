#include "background_queue.h"
#include "fake_seams.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nixos_containers {
namespace {

TEST(BackgroundQueueTest, OneContainersJobsRunOneAtATimeInOrderOthersAlongside) {
    Deferred loop;
    FakeWorker worker{loop};
    BackgroundQueue queue(worker);
    std::vector<std::string> ran;
    std::vector<std::string> answered;
    auto job = [&](const std::string& container, const std::string& what) {
        queue.run(
            container, [&ran, what] { ran.push_back(what); },
            [&answered, what](const Status&) { answered.push_back(what); });
    };
    job("web", "release web");
    job("web", "prepare web");
    job("db", "release db");
    EXPECT_EQ(loop.queue.size(), 2U);  // web's second waits for its first
    ASSERT_TRUE(loop.runOne());
    EXPECT_EQ(loop.queue.size(), 2U);  // now web's second is handed over, behind db's
    loop.drain();
    EXPECT_EQ(ran, (std::vector<std::string>{"release web", "release db", "prepare web"}));
    EXPECT_EQ(answered, ran);
}

// Issue 25, item 6: an operation's step (up to removing a root tree) must
// not hold the threads short work (a host key) needs.
TEST(BackgroundQueueTest, ItsJobsGoToTheWorkersLongLane) {
    Deferred loop;
    FakeWorker worker{loop};
    BackgroundQueue queue(worker);
    queue.run(
        "web", [] {}, [](const Status&) {});
    queue.run(
        "web", [] {}, [](const Status&) {});
    queue.run(
        "db", [] {}, [](const Status&) {});
    loop.drain();
    EXPECT_EQ(worker.longJobs, 3);
}

}  // namespace
}  // namespace nixos_containers
