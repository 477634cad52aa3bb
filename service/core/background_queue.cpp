#include "background_queue.h"

#include <utility>

namespace nixos_containers {

void BackgroundQueue::run(const std::string& container, std::function<void()> work, StatusCallback done) {
    auto& queue = queues_[container];
    queue.push_back({std::move(work), std::move(done)});
    if (queue.size() == 1) {
        runNext(container);
    }
}

void BackgroundQueue::runNext(const std::string& container) {
    worker_.runLong(queues_[container].front().work, [this, container](Status status) {
        auto& queue = queues_[container];
        auto done = std::move(queue.front().done);
        queue.pop_front();
        if (queue.empty()) {
            queues_.erase(container);
        } else {
            runNext(container);
        }
        done(std::move(status));
    });
}

}  // namespace nixos_containers
