// The worker pool's lanes (issue 25, item 6): long work (removing root
// trees) holds only its own lane; short work (a host key) still runs at once.
#include "worker_pool.h"
#include "event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

namespace nixos_containers {
namespace {

using Clock = std::chrono::steady_clock;

TEST(WorkerPoolTest, LongJobsFillingTheirLaneDoNotDelayShortWork) {
    EventLoop loop;
    WorkerPool pool(loop, 2, 2);
    std::atomic<bool> release{false};
    std::atomic<int> longStarted{0};
    int longDone = 0;
    std::optional<Clock::duration> shortTook;
    // Two more long jobs than the long lane has threads, and more short
    // jobs than the short lane has: none of them may wait for a long one.
    for (int i = 0; i < 4; ++i) {
        pool.runLong(
            [&] {
                ++longStarted;
                while (!release) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
            },
            [&](const Status&) {
                if (++longDone == 4) {
                    loop.exit(0);
                }
            });
    }
    while (longStarted < 2) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const auto asked = Clock::now();
    int shortDone = 0;
    for (int i = 0; i < 3; ++i) {
        pool.run([] {},
                 [&](const Status&) {
                     if (++shortDone == 3) {
                         shortTook = Clock::now() - asked;
                         release = true;  // now the long ones may end
                     }
                 });
    }
    std::thread watchdog([&] {
        // A pool that queued short work behind long work never releases
        // the long jobs: end the test after 5 s rather than hang.
        for (int i = 0; i < 500 && !release; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        release = true;
    });
    loop.run();
    watchdog.join();
    ASSERT_TRUE(shortTook.has_value()) << "short work waited for long work";
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(*shortTook).count(), 1000);
    EXPECT_EQ(longStarted, 4);
    EXPECT_EQ(shortDone, 3);
}

}  // namespace
}  // namespace nixos_containers
