#include "relay.h"

#include "terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace nixos_containers::cli {

namespace {

// After the command ended, its pipes are read until they close or stay
// quiet this long: its cgroup is killed when it ends, so only a process the
// container's root handed an end to elsewhere keeps one open.
constexpr int kQuietAfterEndMs = 300;
// ...and for this long at most: such a process may also never go quiet.
constexpr auto kDrainAfterEnd = std::chrono::seconds(2);
constexpr std::size_t kMaxHeldInput = 65536;
// How often a terminal the agent has is looked at again.
constexpr int kAgentCheckMs = 100;

bool sameTerminal(int a, int b) {
    struct stat first {};
    struct stat second {};
    return ::fstat(a, &first) == 0 && ::fstat(b, &second) == 0 && S_ISCHR(first.st_mode) &&
           first.st_rdev == second.st_rdev;
}

void closeFd(int& fd) {
    if (fd >= 0) {
        ::close(fd);
        fd = -1;
    }
}

}  // namespace

StdioRelay::StdioRelay(bool agentAsks, std::array<int, 3> fds) : ownFds_(fds) {
    for (int which = 0; which < 3; ++which) {
        commandFds_[which] = ownFds_[which];
        if (::isatty(ownFds_[which]) != 1) {
            continue;
        }
        if (which == 2 && relayFds_[1] >= 0 && sameTerminal(ownFds_[1], ownFds_[2])) {
            // One pipe for both keeps their lines in the order they were written.
            commandFds_[2] = commandFds_[1];
            continue;
        }
        int ends[2] = {-1, -1};
        if (::pipe2(ends, O_CLOEXEC) != 0) {
            throw std::system_error(errno, std::generic_category(), "cannot make a pipe for the command");
        }
        // stdin: the command reads what we write; stdout, stderr: the other way.
        const bool input = which == 0;
        commandFds_[which] = input ? ends[0] : ends[1];
        relayFds_[which] = input ? ends[1] : ends[0];
        ownsCommandFd_[which] = true;
    }
    termios modes{};
    yieldToAgent_ =
        agentAsks && relayFds_[0] >= 0 && ::tcgetattr(ownFds_[0], &modes) == 0 && (modes.c_lflag & ECHO) != 0;
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) {
        throw std::system_error(errno, std::generic_category(), "cannot make an eventfd");
    }
}

StdioRelay::~StdioRelay() {
    finish();
    for (int which = 0; which < 3; ++which) {
        if (ownsCommandFd_[which]) {
            closeFd(commandFds_[which]);
        }
        closeFd(relayFds_[which]);
    }
    closeFd(wake_);
}

void StdioRelay::start() {
    for (int which = 0; which < 3; ++which) {
        if (ownsCommandFd_[which]) {
            closeFd(commandFds_[which]);
            ownsCommandFd_[which] = false;
        }
    }
    if (relayFds_[0] >= 0) {
        // The command may stop reading at any time: a write then fails with
        // EPIPE instead of killing this process. A background job reading
        // the terminal gets EIO (its end of input) instead of being stopped.
        ::signal(SIGPIPE, SIG_IGN);
        ::signal(SIGTTIN, SIG_IGN);
        ::fcntl(relayFds_[0], F_SETFL, ::fcntl(relayFds_[0], F_GETFL) | O_NONBLOCK);
    }
    copier_ = std::thread([this] { copyLoop(); });
}

void StdioRelay::finish() {
    if (!copier_.joinable()) {
        return;
    }
    const std::uint64_t one = 1;
    (void)::write(wake_, &one, sizeof(one));
    copier_.join();
}

bool StdioRelay::agentHasTheTerminal() const {
    // pkttyagent turns echo off while it reads a password (and flushes what
    // was typed before its prompt): those keys are its own, not the command's.
    termios modes{};
    return yieldToAgent_ && ::tcgetattr(ownFds_[0], &modes) == 0 && (modes.c_lflag & ECHO) == 0;
}

bool StdioRelay::readInput(std::string& held) {
    if (agentHasTheTerminal()) {
        return true;
    }
    char buffer[16384];
    const auto got = ::read(ownFds_[0], buffer, sizeof(buffer));
    if (got > 0) {
        held.append(buffer, static_cast<std::size_t>(got));
    }
    return got > 0 || (got < 0 && (errno == EINTR || errno == EAGAIN));  // else ^D, or EIO in the background
}

bool StdioRelay::writeInput(std::string& held) {
    const auto written = ::write(relayFds_[0], held.data(), held.size());
    if (written > 0) {
        held.erase(0, static_cast<std::size_t>(written));
    }
    return written > 0 || (written < 0 && (errno == EINTR || errno == EAGAIN));  // else it closed its stdin
}

void StdioRelay::copyOutput(int which) {
    char buffer[16384];
    const auto got = ::read(relayFds_[which], buffer, sizeof(buffer));
    if (got > 0) {
        (void)writeAll(ownFds_[which], buffer, static_cast<std::size_t>(got));
    } else if (!(got < 0 && (errno == EINTR || errno == EAGAIN))) {
        closeFd(relayFds_[which]);
    }
}

void StdioRelay::copyLoop() {
    std::string held;  // read from the terminal, not yet taken by the command
    bool inputOpen = relayFds_[0] >= 0;
    std::optional<std::chrono::steady_clock::time_point> drainUntil;
    for (;;) {
        const bool finishing = finishing_.load();
        if (finishing && !drainUntil) {
            drainUntil = std::chrono::steady_clock::now() + kDrainAfterEnd;
        }
        if (drainUntil && std::chrono::steady_clock::now() >= *drainUntil) {
            return;  // what a process kept inside still writes is not the command's
        }
        if (!inputOpen && held.empty()) {
            closeFd(relayFds_[0]);
        }
        if (finishing && relayFds_[1] < 0 && relayFds_[2] < 0) {
            return;
        }
        const bool agentAsks = inputOpen && agentHasTheTerminal();
        const bool reading = inputOpen && !finishing && !agentAsks && held.size() < kMaxHeldInput;
        pollfd fds[5] = {
            {reading ? ownFds_[0] : -1, POLLIN, 0},
            {!held.empty() ? relayFds_[0] : -1, POLLOUT, 0},
            {relayFds_[1], POLLIN, 0},
            {relayFds_[2], POLLIN, 0},
            {finishing ? -1 : wake_, POLLIN, 0},
        };
        const int ready = ::poll(fds, 5, finishing ? kQuietAfterEndMs : agentAsks ? kAgentCheckMs : -1);
        if ((ready < 0 && errno != EINTR) || (ready == 0 && finishing)) {
            return;  // quiet since the command ended, or poll itself failed
        }
        if (ready <= 0) {
            continue;
        }
        if (fds[4].revents != 0) {
            finishing_ = true;
            inputOpen = false;
            held.clear();
        }
        if (fds[0].revents != 0 && !readInput(held)) {
            inputOpen = false;  // what is held still goes, then the command reads its end
        }
        if (fds[1].revents != 0 && !writeInput(held)) {
            inputOpen = false;
            held.clear();
        }
        for (int which : {1, 2}) {
            if (fds[which + 1].revents != 0) {
                copyOutput(which);
            }
        }
    }
}

}  // namespace nixos_containers::cli
