#pragma once

#include <systemd/sd-event.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace sdbus {
class IConnection;
}

namespace nixos_containers {

using EventSourcePtr = std::unique_ptr<sd_event_source, decltype(&sd_event_source_unref)>;

// The service's one event loop: sd-event, with the sdbus-c++ connection
// driven through its poll data, child processes, pipes and signals. Nothing
// runs on another thread.
class EventLoop {
public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    [[nodiscard]] sd_event* get() const { return event_.get(); }

    // Dispatches the connection's messages from this loop.
    void attach(sdbus::IConnection& connection);
    // Runs `work` on a later iteration: completions never run inside the
    // call that asked for them.
    void post(std::function<void()> work);
    // The same from any thread (the worker pool): wakes the loop through an eventfd.
    void postFromAnyThread(std::function<void()> work);
    // Ends run() on SIGTERM and SIGINT (which main() blocked).
    void exitOnSignals();
    int run();
    void exit(int code);

private:
    static int onBusIo(sd_event_source* source, int fd, uint32_t events, void* userdata);
    static int onBusTime(sd_event_source* source, uint64_t usec, void* userdata);
    static int onBusPrepare(sd_event_source* source, void* userdata);
    static int onPosted(sd_event_source* source, void* userdata);
    static int onWake(sd_event_source* source, int fd, uint32_t events, void* userdata);
    void processBus();

    std::unique_ptr<sd_event, decltype(&sd_event_unref)> event_;
    sdbus::IConnection* connection_ = nullptr;
    EventSourcePtr busIo_{nullptr, sd_event_source_unref};
    EventSourcePtr busTime_{nullptr, sd_event_source_unref};
    EventSourcePtr posted_{nullptr, sd_event_source_unref};
    std::vector<EventSourcePtr> signals_;
    std::deque<std::function<void()>> queue_;
    int wakeFd_ = -1;
    EventSourcePtr wake_{nullptr, sd_event_source_unref};
    std::mutex crossThreadMutex_;
    std::deque<std::function<void()>> crossThreadQueue_;
};

}  // namespace nixos_containers
