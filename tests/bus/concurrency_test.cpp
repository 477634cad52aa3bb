// A busy container refuses a second operation; different containers run
// concurrently; the bus stays responsive while operations are pending.
#include "bus_fixture.h"

#include <gmock/gmock.h>

#include <set>
#include <thread>

namespace bus_tests {
namespace {

using ConcurrencyTest = BusTest;

TEST_F(ConcurrencyTest, ASecondOperationOnAPendingContainerIsBusy) {
    createSimple("web");
    peers().holdStartJobs();
    auto first = verbAsync("Start", "web");
    ASSERT_TRUE(waitUntil([&] { return peers().heldStartJobs() == 1; }));

    for (const char* method : {"Start", "Restart", "Destroy"}) {
        SCOPED_TRACE(method);
        EXPECT_TRUE(failsWith([&] { verb(method, "web"); }, kBusy, "container 'web' is busy with start"));
    }
    EXPECT_TRUE(failsWith(
        [&] {
            update("web", {{"AutoStart", sdbus::Variant(true)}});
        },
        kBusy, "busy with start"));
    // Reads answer at once while the start is pending.
    auto rows = list();
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(rows[0].get<1>(), "starting");
    EXPECT_TRUE(fs::exists(confFile("web")));

    peers().releaseStartJobs();
    ASSERT_EQ(first.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(first.get());
    EXPECT_EQ(peers().transientUnits().size(), 1U);
    // Not busy any more.
    verb("Stop", "web");
    EXPECT_EQ(state("web"), "stopped");
}

// As systemctl stop: a Stop while the start job runs cancels it.
TEST_F(ConcurrencyTest, AStopWhileTheContainerStartsCancelsTheStart) {
    createSimple("web");
    peers().holdStartJobs();
    auto started = verbAsync("Start", "web");
    ASSERT_TRUE(waitUntil([&] { return peers().heldStartJobs() == 1; }));

    verb("Stop", "web");
    ASSERT_EQ(started.wait_for(10s), std::future_status::ready);
    auto error = started.get();
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->name, kStartFailed);
    EXPECT_THAT(error->message, ::testing::HasSubstr("the start of 'web' was cancelled by a stop"));
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_EQ(peers().heldStartJobs(), 0U);
    peers().releaseStartJobs();
    // Nothing is left holding the container.
    verb("Start", "web");
    EXPECT_EQ(state("web"), "running");
}

TEST_F(ConcurrencyTest, TenContainersCreatedAndStartedFromTenConnections) {
    constexpr int kCount = 10;
    // Long enough that the starts overlap; they must not queue behind each other.
    peers().setJobDelay(300ms);
    std::vector<std::string> failures(kCount);
    std::vector<std::thread> callers;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < kCount; ++i) {
        callers.emplace_back([this, i, &failures] {
            const auto name = "c" + std::to_string(i);
            try {
                // Each caller its own connection, as separate clients would be.
                auto connection = sdbus::createSessionBusConnectionWithAddress(address());
                auto proxy = sdbus::createProxy(*connection, kService, kManagerPath);
                proxy->finishRegistration();
                sdbus::ObjectPath path;
                Spec spec = {{"SystemPath", sdbus::Variant(system().string())},
                             {"PrivateNetwork", sdbus::Variant(true)}};
                proxy->callMethod("Create")
                    .onInterface(kManagerInterface)
                    .withTimeout(20s)
                    .withArguments(name, spec)
                    .storeResultsTo(path);
                proxy->callMethod("Start")
                    .onInterface(kManagerInterface)
                    .withTimeout(20s)
                    .withArguments(name);
            } catch (const sdbus::Error& error) {
                failures[static_cast<std::size_t>(i)] = error.getName() + ": " + error.getMessage();
            }
        });
    }
    // While they run, List answers promptly and never sees a torn state.
    ASSERT_TRUE(waitUntil([&] { return peers().transientUnits().size() >= 3; }));
    const auto listStart = std::chrono::steady_clock::now();
    auto rows = list();
    EXPECT_LT(std::chrono::steady_clock::now() - listStart, 250ms);
    for (const auto& row : rows) {
        EXPECT_THAT((std::set<std::string>{"stopped", "starting", "running"}),
                    ::testing::Contains(row.get<1>()));
    }
    for (auto& caller : callers) {
        caller.join();
    }
    for (int i = 0; i < kCount; ++i) {
        EXPECT_EQ(failures[static_cast<std::size_t>(i)], "") << "c" << i;
    }
    // Ten overlapping 300ms starts took far less than ten in a row.
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2500ms);

    std::set<std::string> hostAddresses;
    for (int i = 0; i < kCount; ++i) {
        const auto name = "c" + std::to_string(i);
        EXPECT_EQ(state(name), "running") << name;
        hostAddresses.insert(readConf(name)["HOST_ADDRESS"]);
    }
    // Allocation is race-free: ten different pairs.
    EXPECT_EQ(hostAddresses.size(), static_cast<std::size_t>(kCount));
    EXPECT_EQ(peers().transientUnits().size(), static_cast<std::size_t>(kCount));
}

TEST_F(ConcurrencyTest, ConcurrentCreatesOfOneNameYieldOneContainer) {
    constexpr int kCount = 6;
    std::vector<std::string> outcomes(kCount);
    std::vector<std::thread> callers;
    for (int i = 0; i < kCount; ++i) {
        callers.emplace_back([this, i, &outcomes] {
            try {
                auto connection = sdbus::createSessionBusConnectionWithAddress(address());
                auto proxy = sdbus::createProxy(*connection, kService, kManagerPath);
                proxy->finishRegistration();
                Spec spec = {{"Config", sdbus::Variant(std::string("{ }"))}};
                proxy->callMethod("Create")
                    .onInterface(kManagerInterface)
                    .withTimeout(20s)
                    .withArguments(std::string("web"), spec);
                outcomes[static_cast<std::size_t>(i)] = "ok";
            } catch (const sdbus::Error& error) {
                outcomes[static_cast<std::size_t>(i)] = error.getName();
            }
        });
    }
    for (auto& caller : callers) {
        caller.join();
    }
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), "ok"), 1);
    EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), std::string(kAlreadyExists)), kCount - 1);
    EXPECT_EQ(list().size(), 1U);
}

class LimitedOperationsTest : public BusTest {
protected:
    std::map<std::string, std::string> extraEnvironment() const override {
        return {{"NIXOS_CONTAINERS_MAX_OPERATIONS", "1"}};
    }
};

TEST_F(LimitedOperationsTest, OperationsBeyondTheLimitAreLimitsExceeded) {
    createSimple("a");
    createSimple("b");
    peers().holdStartJobs();
    auto first = verbAsync("Start", "a");
    ASSERT_TRUE(waitUntil([&] { return peers().heldStartJobs() == 1; }));
    EXPECT_TRUE(failsWith([&] { verb("Start", "b"); }, "org.nixos.Containers.Error.LimitsExceeded",
                          "too many operations in flight"));
    EXPECT_EQ(state("b"), "stopped");
    peers().releaseStartJobs();
    ASSERT_EQ(first.wait_for(10s), std::future_status::ready);
    EXPECT_FALSE(first.get());
    verb("Start", "b");
    EXPECT_EQ(state("b"), "running");
}

}  // namespace
}  // namespace bus_tests
