#pragma once

#include "outcome.h"
#include "system_seams.h"

#include <deque>
#include <functional>
#include <map>
#include <string>

namespace nixos_containers {

// Work off the loop, one job at a time per container, in order: a release
// after a crash can never overtake or race the next prepare. Its jobs are
// operations' steps, up to removing a whole root tree: they run in the
// worker's long lane (Worker::runLong), never ahead of short work.
class BackgroundQueue {
public:
    explicit BackgroundQueue(Worker& worker) : worker_(worker) {}

    // `work` must not touch the core's state; `done` runs on the loop.
    void run(const std::string& container, std::function<void()> work, StatusCallback done);

private:
    void runNext(const std::string& container);

    struct Job {
        std::function<void()> work;
        StatusCallback done;
    };
    Worker& worker_;
    std::map<std::string, std::deque<Job>> queues_;
};

}  // namespace nixos_containers
