#include "event_loop.h"

#include "log.h"

#include <sdbus-c++/Error.h>
#include <sdbus-c++/IConnection.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <string>

namespace nixos_containers {

namespace {
sd_event* newEvent() {
    sd_event* event = nullptr;
    if (int r = sd_event_new(&event); r < 0) {
        throw std::runtime_error(std::string("sd_event_new: ") + std::strerror(-r));
    }
    return event;
}

void check(int r, const char* what) {
    if (r < 0) {
        throw std::runtime_error(std::string(what) + ": " + std::strerror(-r));
    }
}
}  // namespace

EventLoop::EventLoop() : event_(newEvent(), sd_event_unref) {
    sd_event_source* source = nullptr;
    check(sd_event_add_defer(event_.get(), &source, &EventLoop::onPosted, this), "sd_event_add_defer");
    posted_.reset(source);
    check(sd_event_source_set_enabled(source, SD_EVENT_OFF), "sd_event_source_set_enabled");
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    check(wakeFd_ < 0 ? -errno : 0, "eventfd");
    check(sd_event_add_io(event_.get(), &source, wakeFd_, EPOLLIN, &EventLoop::onWake, this),
          "sd_event_add_io");
    wake_.reset(source);
}

EventLoop::~EventLoop() {
    wake_.reset();
    if (wakeFd_ >= 0) {
        ::close(wakeFd_);
    }
    // Sources first: they point at this object.
    busIo_.reset();
    busTime_.reset();
    posted_.reset();
    signals_.clear();
}

void EventLoop::attach(sdbus::IConnection& connection) {
    connection_ = &connection;
    auto poll = connection.getEventLoopPollData();
    sd_event_source* source = nullptr;
    check(sd_event_add_io(event_.get(), &source, poll.fd, static_cast<uint32_t>(poll.events),
                          &EventLoop::onBusIo, this),
          "sd_event_add_io");
    busIo_.reset(source);
    // Before every poll, ask sd-bus what it waits for (POLLOUT while it has
    // queued output) and until when (a method call's timeout, or 0 when
    // messages are already queued).
    check(sd_event_source_set_prepare(source, &EventLoop::onBusPrepare), "sd_event_source_set_prepare");
    check(
        sd_event_add_time(event_.get(), &source, CLOCK_MONOTONIC, UINT64_MAX, 0, &EventLoop::onBusTime, this),
        "sd_event_add_time");
    busTime_.reset(source);
    check(sd_event_source_set_enabled(source, SD_EVENT_OFF), "sd_event_source_set_enabled");
}

int EventLoop::onBusPrepare(sd_event_source* /*source*/, void* userdata) {
    auto* self = static_cast<EventLoop*>(userdata);
    auto poll = self->connection_->getEventLoopPollData();
    sd_event_source_set_io_events(self->busIo_.get(), static_cast<uint32_t>(poll.events));
    if (poll.timeout_usec == UINT64_MAX) {
        sd_event_source_set_enabled(self->busTime_.get(), SD_EVENT_OFF);
    } else {
        sd_event_source_set_time(self->busTime_.get(), poll.timeout_usec);
        sd_event_source_set_enabled(self->busTime_.get(), SD_EVENT_ONESHOT);
    }
    return 0;
}

void EventLoop::processBus() {
    for (;;) {
        try {
            while (connection_->processPendingRequest()) {
            }
            return;
        } catch (const sdbus::Error& error) {
            // sdbus-c++ reports sd_bus_process's own failure so: the connection
            // is gone and nothing more can be served. Anything else came from
            // a handler.
            if (error.getMessage().starts_with("Failed to process bus requests")) {
                logError("bus connection failed: " + error.getMessage());
                exit(1);
                return;
            }
            logError("unexpected failure in a bus handler: " + error.getMessage());
        } catch (const std::exception& error) {
            // A handler failed in a way nobody caught: log it and serve on.
            logError(std::string("unexpected failure in a bus handler: ") + error.what());
        }
    }
}

int EventLoop::onBusIo(sd_event_source* /*source*/, int /*fd*/, uint32_t /*events*/, void* userdata) {
    static_cast<EventLoop*>(userdata)->processBus();
    return 0;
}

int EventLoop::onBusTime(sd_event_source* /*source*/, uint64_t /*usec*/, void* userdata) {
    static_cast<EventLoop*>(userdata)->processBus();
    return 0;
}

void EventLoop::post(std::function<void()> work) {
    queue_.push_back(std::move(work));
    sd_event_source_set_enabled(posted_.get(), SD_EVENT_ON);
}

int EventLoop::onPosted(sd_event_source* source, void* userdata) {
    auto* self = static_cast<EventLoop*>(userdata);
    // Only what was queued before this turn: work may post more.
    auto batch = std::move(self->queue_);
    self->queue_.clear();
    sd_event_source_set_enabled(source, SD_EVENT_OFF);
    for (auto& work : batch) {
        work();
    }
    if (!self->queue_.empty()) {
        sd_event_source_set_enabled(source, SD_EVENT_ON);
    }
    return 0;
}

void EventLoop::postFromAnyThread(std::function<void()> work) {
    {
        std::lock_guard lock(crossThreadMutex_);
        crossThreadQueue_.push_back(std::move(work));
    }
    std::uint64_t one = 1;
    // A full counter still wakes the loop; nothing is lost.
    (void)!::write(wakeFd_, &one, sizeof(one));
}

int EventLoop::onWake(sd_event_source* /*source*/, int fd, uint32_t /*events*/, void* userdata) {
    auto* self = static_cast<EventLoop*>(userdata);
    std::uint64_t count = 0;
    (void)!::read(fd, &count, sizeof(count));
    std::deque<std::function<void()>> batch;
    {
        std::lock_guard lock(self->crossThreadMutex_);
        batch.swap(self->crossThreadQueue_);
    }
    for (auto& work : batch) {
        work();
    }
    return 0;
}

void EventLoop::exitOnSignals() {
    for (int signal : {SIGTERM, SIGINT}) {
        sd_event_source* source = nullptr;
        check(sd_event_add_signal(event_.get(), &source, signal, nullptr, nullptr), "sd_event_add_signal");
        signals_.emplace_back(source, sd_event_source_unref);
    }
}

int EventLoop::run() {
    return sd_event_loop(event_.get());
}

void EventLoop::exit(int code) {
    sd_event_exit(event_.get(), code);
}

}  // namespace nixos_containers
