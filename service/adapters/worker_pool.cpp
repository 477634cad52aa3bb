#include "worker_pool.h"

namespace nixos_containers {

WorkerPool::WorkerPool(EventLoop& loop, std::size_t threads) : loop_(loop) {
    for (std::size_t i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { serve(); });
    }
}

WorkerPool::~WorkerPool() {
    stop();
}

void WorkerPool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        jobs_.clear();
    }
    wakeup_.notify_all();
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
}

void WorkerPool::run(std::function<void()> work, StatusCallback done) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back({std::move(work), std::move(done)});
    }
    wakeup_.notify_one();
}

void WorkerPool::serve() {
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wakeup_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) {
                return;  // stopping, and nothing left to do
            }
            job = std::move(jobs_.front());
            jobs_.pop_front();
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
