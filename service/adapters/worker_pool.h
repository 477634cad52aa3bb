#pragma once

#include "event_loop.h"
#include "system_seams.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace nixos_containers {

// Worker on a few threads, in two lanes: short work on `threads`, long work
// on `longThreads` of its own, so that removing two huge trees never delays
// a host key. Completions go back to the event loop, so the core only ever
// runs on the loop.
class WorkerPool final : public Worker {
public:
    WorkerPool(EventLoop& loop, std::size_t threads, std::size_t longThreads = 4);
    ~WorkerPool() override;
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void run(std::function<void()> work, StatusCallback done) override;
    void runLong(std::function<void()> work, StatusCallback done) override;
    // Drops the jobs not yet started and waits for the running ones. Called
    // before the core is destroyed: a queued job may refer to it.
    void stop();

private:
    struct Job {
        std::function<void()> work;
        StatusCallback done;
    };
    struct Lane {
        std::condition_variable wakeup;
        std::deque<Job> jobs;
    };
    void submit(Lane& lane, std::function<void()> work, StatusCallback done);
    void serve(Lane& lane);

    EventLoop& loop_;
    std::mutex mutex_;
    Lane short_;
    Lane long_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace nixos_containers
