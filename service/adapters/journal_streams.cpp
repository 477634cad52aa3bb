#include "journal_streams.h"

#include "errors.h"
#include "log.h"

#include <poll.h>
#include <sys/socket.h>
#include <systemd/sd-journal.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>

namespace nixos_containers {

namespace {

using Journal = std::unique_ptr<sd_journal, decltype(&sd_journal_close)>;

// How long a stream waits at most for the journal or a slow reader before it
// looks again whether its reader is gone or the service is stopping.
constexpr int kWaitMs = 250;

std::string_view field(sd_journal* journal, const char* name) {
    const void* data = nullptr;
    std::size_t length = 0;
    if (sd_journal_get_data(journal, name, &data, &length) < 0) {
        return {};
    }
    std::string_view entry(static_cast<const char*>(data), length);
    const auto equals = entry.find('=');
    return equals == std::string_view::npos ? std::string_view{} : entry.substr(equals + 1);
}

std::string currentLine(sd_journal* journal, std::uint64_t realtime) {
    auto identifier = field(journal, "SYSLOG_IDENTIFIER");
    if (identifier.empty()) {
        identifier = field(journal, "_COMM");
    }
    return formatLogLine(realtime, identifier, field(journal, "_PID"), field(journal, "MESSAGE"));
}

// The entries of the unit, as journalctl -u selects them: what its processes
// logged, and what systemd logged about it.
Journal openUnitJournal(const std::string& unit) {
    sd_journal* raw = nullptr;
    if (int error = sd_journal_open(&raw, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM); error < 0) {
        throw ContainerError(ErrorCode::Failed,
                             std::string("cannot open the journal: ") + std::strerror(-error));
    }
    Journal journal(raw, &sd_journal_close);
    const auto own = "_SYSTEMD_UNIT=" + unit;
    const auto about = "UNIT=" + unit;
    if (sd_journal_add_match(raw, own.data(), own.size()) < 0 || sd_journal_add_disjunction(raw) < 0 ||
        sd_journal_add_match(raw, about.data(), about.size()) < 0 ||
        sd_journal_add_match(raw, "_PID=1", 0) < 0) {
        throw ContainerError(ErrorCode::Failed, "cannot select the journal of " + unit);
    }
    return journal;
}

enum class Sent { All, ReaderGone, Stopping };

// Writes all of `line`, waiting at most kWaitMs at a time for the reader.
Sent sendLine(int fd, std::string_view line, const std::atomic<bool>& stopping) {
    while (!line.empty()) {
        if (stopping) {
            return Sent::Stopping;
        }
        const auto sent = ::send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
            line.remove_prefix(static_cast<std::size_t>(sent));
            continue;
        }
        if (sent < 0 && errno != EAGAIN && errno != EINTR) {
            return Sent::ReaderGone;
        }
        pollfd writable{fd, POLLOUT, 0};
        ::poll(&writable, 1, kWaitMs);
    }
    return Sent::All;
}

// The caller's end was shut for writing at once, so only its close, a
// hangup, tells that nobody reads any more.
bool readerGone(int fd) {
    pollfd peer{fd, 0, 0};
    return ::poll(&peer, 1, 0) > 0 && (peer.revents & (POLLHUP | POLLERR)) != 0;
}

// The entry the journal stands on, unless it is older than the container
// (another container's of the same name, maybe another owner's): skipped.
Sent sendEntry(sd_journal* journal, int fd, std::uint64_t sinceUsec, const std::atomic<bool>& stopping) {
    std::uint64_t realtime = 0;
    if (sd_journal_get_realtime_usec(journal, &realtime) < 0 || realtime < sinceUsec) {
        return Sent::All;
    }
    return sendLine(fd, currentLine(journal, realtime), stopping);
}

// Runs on the stream's thread: opening the journal reads its files, which is
// no work for the event loop.
void streamEntries(const LogRequest& request, const UniqueFd& out, const std::atomic<bool>& stopping) {
    Journal journal(nullptr, &sd_journal_close);
    try {
        journal = openUnitJournal(request.unit);
    } catch (const ContainerError& error) {
        sendLine(out.get(), std::string("nixos-containersd: ") + error.what() + "\n", stopping);
        return;
    }
    auto* raw = journal.get();
    sd_journal_seek_tail(raw);
    // previous_skip(N) from the tail stands on the Nth entry from the end (or
    // the first): that one is sent before next() moves on. With none wanted,
    // the stream stands on the last entry, sent already as it were.
    if (request.lines == 0) {
        sd_journal_previous(raw);
    } else if (sd_journal_previous_skip(raw, request.lines) > 0 &&
               sendEntry(raw, out.get(), request.sinceUsec, stopping) != Sent::All) {
        return;
    }
    const bool follow = request.follow;
    while (!stopping) {
        int moved = 0;
        while ((moved = sd_journal_next(raw)) > 0) {
            if (sendEntry(raw, out.get(), request.sinceUsec, stopping) != Sent::All) {
                return;
            }
        }
        if (moved < 0 || !follow || readerGone(out.get())) {
            return;
        }
        sd_journal_wait(raw, static_cast<std::uint64_t>(kWaitMs) * 1000);
    }
}

}  // namespace

JournalStreams::~JournalStreams() {
    stopping_ = true;
    std::lock_guard lock(mutex_);
    for (auto& stream : streams_) {
        stream->thread.join();
    }
}

void JournalStreams::reapFinished() {
    for (auto it = streams_.begin(); it != streams_.end();) {
        if ((*it)->finished) {
            (*it)->thread.join();
            it = streams_.erase(it);
        } else {
            ++it;
        }
    }
}

UniqueFd JournalStreams::open(const LogRequest& request) {
    std::lock_guard lock(mutex_);
    reapFinished();
    std::size_t callers = 0;
    for (const auto& stream : streams_) {
        callers += stream->caller == request.caller ? 1 : 0;
    }
    if (streams_.size() >= kMaxStreams || callers >= kMaxStreamsPerCaller) {
        throw ContainerError(ErrorCode::LimitsExceeded,
                             "too many logs open (" + std::to_string(kMaxStreamsPerCaller) + " per user, " +
                                 std::to_string(kMaxStreams) + " in all): close one first");
    }
    std::array<int, 2> ends{-1, -1};
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends.data()) != 0) {
        throw ContainerError(ErrorCode::Failed,
                             std::string("cannot make a socket pair: ") + std::strerror(errno));
    }
    UniqueFd reader(ends[0]);
    UniqueFd writer(ends[1]);
    ::shutdown(reader.get(), SHUT_WR);  // the caller only reads
    auto added = std::make_unique<Stream>();
    added->caller = request.caller;
    try {
        added->thread =
            std::thread([&stream = *added, &stopping = stopping_, request, writer = std::move(writer)] {
                try {
                    streamEntries(request, writer, stopping);
                } catch (const std::exception& error) {
                    logError(std::string("a log stream ended: ") + error.what());
                }
                stream.finished = true;
            });
    } catch (const std::system_error& error) {
        throw ContainerError(ErrorCode::Failed, std::string("cannot start a log stream: ") + error.what());
    }
    streams_.push_back(std::move(added));
    return reader;
}

}  // namespace nixos_containers
