#include "peer_loop.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iostream>

namespace bus_tests {

PeerLoop::PeerLoop(const std::string& address)
    : connection_(sdbus::createSessionBusConnectionWithAddress(address)),
      wakeFd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread([this] { loop(); });
}

PeerLoop::~PeerLoop() {
    stop();
    ::close(wakeFd_);
}

void PeerLoop::post(std::function<void()> task, std::chrono::milliseconds delay) {
    {
        std::lock_guard lock(mutex_);
        tasks_.emplace(Clock::now() + delay, std::move(task));
    }
    wake();
}

void PeerLoop::wake() {
    std::uint64_t one = 1;
    (void)!::write(wakeFd_, &one, sizeof(one));
}

void PeerLoop::stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    wake();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void PeerLoop::loop() {
    while (true) {
        // Due tasks first, one at a time: a task may post more.
        std::function<void()> task;
        int taskTimeoutMs = -1;
        {
            std::lock_guard lock(mutex_);
            if (stopping_) {
                return;
            }
            if (!tasks_.empty()) {
                auto first = tasks_.begin();
                if (first->first <= Clock::now()) {
                    task = std::move(first->second);
                    tasks_.erase(first);
                } else {
                    taskTimeoutMs = static_cast<int>(
                        std::chrono::ceil<std::chrono::milliseconds>(first->first - Clock::now()).count());
                }
            }
        }
        if (task) {
            try {
                task();
            } catch (const std::exception& error) {
                std::cerr << "peer loop task failed: " << error.what() << '\n';
            }
            continue;
        }
        try {
            while (connection_->processPendingRequest()) {
            }
        } catch (const std::exception& error) {
            std::cerr << "peer loop: " << error.what() << '\n';
        }
        auto pollData = connection_->getEventLoopPollData();
        int busTimeout = pollData.getPollTimeout();
        int timeout = taskTimeoutMs;
        if (busTimeout >= 0 && (timeout < 0 || busTimeout < timeout)) {
            timeout = busTimeout;
        }
        pollfd fds[2] = {{pollData.fd, pollData.events, 0}, {wakeFd_, POLLIN, 0}};
        ::poll(fds, 2, timeout);
        if (fds[1].revents & POLLIN) {
            std::uint64_t count = 0;
            (void)!::read(wakeFd_, &count, sizeof(count));
        }
    }
}

}  // namespace bus_tests
