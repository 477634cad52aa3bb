// One thread that owns an sdbus-c++ connection and runs everything done with
// it: incoming calls, timers and work posted by the test thread. sd-bus is
// not thread-safe, so the fake peers never touch their connection, objects
// or signals from any other thread; the test posts work here instead.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace bus_tests {

class PeerLoop {
public:
    explicit PeerLoop(const std::string& address);
    ~PeerLoop();
    PeerLoop(const PeerLoop&) = delete;
    PeerLoop& operator=(const PeerLoop&) = delete;

    // Only for use on the loop thread (handlers, posted work).
    sdbus::IConnection& connection() { return *connection_; }

    // Runs `task` on the loop thread after `delay`.
    void post(std::function<void()> task, std::chrono::milliseconds delay = std::chrono::milliseconds(0));

    // Runs `task` on the loop thread and waits for it (rethrows its exceptions).
    template <typename Task>
    auto run(Task task) -> decltype(task()) {
        auto packaged = std::make_shared<std::packaged_task<decltype(task())()>>(std::move(task));
        auto result = packaged->get_future();
        post([packaged] { (*packaged)(); });
        if (result.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            throw std::runtime_error("the peer loop did not run a task within 10s");
        }
        return result.get();
    }

    // Stops the thread; afterwards the owner may destroy objects freely.
    void stop();

private:
    void loop();
    void wake();

    using Clock = std::chrono::steady_clock;
    std::unique_ptr<sdbus::IConnection> connection_;
    int wakeFd_ = -1;
    std::mutex mutex_;
    std::multimap<Clock::time_point, std::function<void()>> tasks_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace bus_tests
