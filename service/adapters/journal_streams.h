#pragma once

#include "container_logs.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace nixos_containers {

// JournalReader over sd-journal: one thread per open stream, which reads the
// local system journal for the unit and writes lines to its end of a
// socket pair. Bounded: kMaxStreams at once, kMaxStreamsPerCaller for one
// uid. A stream ends when its entries are sent (no follow), when the reader
// closes its end, or when the service stops; a reader that stops reading
// holds its thread only until then, since every wait is bounded.
class JournalStreams final : public JournalReader {
public:
    static constexpr std::size_t kMaxStreams = 64;
    static constexpr std::size_t kMaxStreamsPerCaller = 8;

    JournalStreams() = default;
    ~JournalStreams() override;
    JournalStreams(const JournalStreams&) = delete;
    JournalStreams& operator=(const JournalStreams&) = delete;

    UniqueFd open(const LogRequest& request) override;

private:
    struct Stream {
        std::uint32_t caller;
        std::atomic<bool> finished{false};
        std::thread thread;
    };
    // Joins the streams that ended; under mutex_.
    void reapFinished();

    std::mutex mutex_;
    std::list<std::unique_ptr<Stream>> streams_;
    std::atomic<bool> stopping_{false};
};

}  // namespace nixos_containers
