#include "worker_pool.h"

namespace nixos_containers {

WorkerPool::WorkerPool(EventLoop& loop, std::size_t threads, std::size_t longThreads) : loop_(loop) {
    for (std::size_t i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { serve(short_); });
    }
    for (std::size_t i = 0; i < longThreads; ++i) {
        threads_.emplace_back([this] { serve(long_); });
    }
}

WorkerPool::~WorkerPool() {
    stop();
}

void WorkerPool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        short_.jobs.clear();
        long_.jobs.clear();
    }
    short_.wakeup.notify_all();
    long_.wakeup.notify_all();
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
}

void WorkerPool::run(std::function<void()> work, StatusCallback done) {
    submit(short_, std::move(work), std::move(done));
}

void WorkerPool::runLong(std::function<void()> work, StatusCallback done) {
    submit(long_, std::move(work), std::move(done));
}

void WorkerPool::submit(Lane& lane, std::function<void()> work, StatusCallback done) {
    {
        std::lock_guard lock(mutex_);
        lane.jobs.push_back({std::move(work), std::move(done)});
    }
    lane.wakeup.notify_one();
}

void WorkerPool::serve(Lane& lane) {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            lane.wakeup.wait(lock, [this, &lane] { return stopping_ || !lane.jobs.empty(); });
            if (lane.jobs.empty()) {
                return;  // stopping, and nothing left to do
            }
            job = std::move(lane.jobs.front());
            lane.jobs.pop_front();
        }
        std::optional<ContainerError> failure;
        try {
            job.work();
        } catch (const ContainerError& error) {
            failure = error;
        } catch (const std::exception& error) {
            failure = ContainerError(ErrorCode::Failed, error.what());
        }
        loop_.postFromAnyThread([done = std::move(job.done), failure] {
            if (failure) {
                done(*failure);
            } else {
                done(Done{});
            }
        });
    }
}

}  // namespace nixos_containers
