// The systemd adapter alone, against the fake systemd1 on a private bus:
// job bookkeeping the service-level tests cannot force.
#include "systemd_client.h"
#include "fake_peers.h"
#include "harness.h"

#include <poll.h>

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace bus_tests {
namespace {

using nixos_containers::Status;
using nixos_containers::SystemdClient;

// The client's connection, driven from the test thread only (the adapter,
// like the service, is single-threaded).
void pumpUntil(sdbus::IConnection& connection, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        while (connection.processPendingRequest()) {
        }
        auto data = connection.getEventLoopPollData();
        pollfd fd{data.fd, static_cast<short>(data.events), 0};
        ::poll(&fd, 1, 20);
    }
}

// systemd answers a StopUnit that a queued stop job already satisfies with
// that job: one job, two waiters, and the JobRemoved must complete both.
TEST(SystemdClientTest, TwoRequestsGivenTheSameJobBothComplete) {
    TempDir dir;
    PrivateBus bus(dir.path());
    FakePeers peers(bus.address(), PeerOptions{});
    peers.addRunningUnit("nixos-container@web.service", "web", 4242);
    peers.setJobDelay(300ms);  // the first stop job is still queued when the second request comes

    auto connection = sdbus::createSessionBusConnectionWithAddress(bus.address());
    SystemdClient systemd(*connection);
    std::vector<Status> answers;
    for (int i = 0; i < 2; ++i) {
        systemd.stopUnit("nixos-container@web.service",
                         [&answers](const Status& status) { answers.push_back(status); });
    }
    pumpUntil(*connection, [&] { return answers.size() == 2; });
    ASSERT_EQ(answers.size(), 2U);
    EXPECT_TRUE(answers[0].ok());
    EXPECT_TRUE(answers[1].ok());
}

}  // namespace
}  // namespace bus_tests
