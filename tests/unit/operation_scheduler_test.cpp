#include "operation_scheduler.h"

#include <gtest/gtest.h>

#include <optional>

namespace nixos_containers {
namespace {

TEST(OperationSchedulerTest, BoundsTheOperationsInFlightWithANamedError) {
    OperationScheduler scheduler(2);
    Caller caller;
    auto first = scheduler.begin(caller, "a", "start", [](const Status&) {});
    auto second = scheduler.begin(caller, "b", "stop", [](const Status&) {});
    ASSERT_TRUE(first && second);
    std::optional<Status> refused;
    EXPECT_EQ(scheduler.begin(caller, "c", "start", [&](Status status) { refused = std::move(status); }),
              nullptr);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->error().code(), ErrorCode::LimitsExceeded);
    EXPECT_TRUE(scheduler.end(first));
    EXPECT_EQ(scheduler.inFlight(), 1U);
    EXPECT_NE(scheduler.begin(caller, "c", "start", [](const Status&) {}), nullptr);
}

TEST(OperationSchedulerTest, HoldsItsContainerUntilItEndsAndEndsOnce) {
    OperationScheduler scheduler(4);
    auto operation = scheduler.begin(Caller{}, "web", "restart", [](const Status&) {});
    ASSERT_TRUE(operation);
    EXPECT_EQ(scheduler.holding("web"), operation);
    EXPECT_EQ(scheduler.holding("db"), nullptr);
    EXPECT_TRUE(scheduler.end(operation));
    EXPECT_EQ(scheduler.holding("web"), nullptr);
    EXPECT_FALSE(scheduler.end(operation));  // a second answer is refused
    EXPECT_EQ(scheduler.inFlight(), 0U);
}

}  // namespace
}  // namespace nixos_containers
