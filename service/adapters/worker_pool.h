#pragma once

#include "event_loop.h"
#include "system_seams.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace nixos_containers {

// Worker on a few threads. Completions go back to the event loop, so the
// core only ever runs on the loop.
class WorkerPool final : public Worker {
public:
    WorkerPool(EventLoop& loop, std::size_t threads);
    ~WorkerPool() override;
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void run(std::function<void()> work, StatusCallback done) override;
    // Drops the jobs not yet started and waits for the running ones. Called
    // before the core is destroyed: a queued job may refer to it.
    void stop();

private:
    struct Job {
        std::function<void()> work;
        StatusCallback done;
    };
    void serve();

    EventLoop& loop_;
    std::mutex mutex_;
    std::condition_variable wakeup_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace nixos_containers
