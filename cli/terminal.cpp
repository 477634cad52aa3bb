#include "terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace nixos_containers::cli {

namespace {

constexpr char kEscape = 0x1d;  // ^]
constexpr int kEscapeCount = 3;
constexpr auto kEscapeWindow = std::chrono::seconds(1);

// Raw mode for the session's length; the terminal as it was afterwards.
class RawMode {
public:
    explicit RawMode(int fd) : fd_(fd) {
        termios now{};
        if (::isatty(fd_) == 1 && ::tcgetattr(fd_, &now) == 0) {
            saved_ = now;
            ::cfmakeraw(&now);
            ::tcsetattr(fd_, TCSANOW, &now);
        }
    }
    ~RawMode() {
        if (saved_) {
            ::tcsetattr(fd_, TCSANOW, &*saved_);
        }
    }
    RawMode(const RawMode&) = delete;
    RawMode& operator=(const RawMode&) = delete;

private:
    int fd_;
    std::optional<termios> saved_;
};

void copyWindowSize(int master) {
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 || ::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) == 0) {
        ::ioctl(master, TIOCSWINSZ, &size);
    }
}

// A shell or getty that has been silent this long after the other side
// opened is taken as ready for input all the same.
constexpr auto kQuietReadyAfter = std::chrono::seconds(2);
constexpr int kNotReadyPollMs = 100;

// The character the other side's line discipline reads as end of input.
char endOfInput(int master) {
    termios modes{};
    return ::tcgetattr(master, &modes) == 0 && modes.c_cc[VEOF] != 0 ? static_cast<char>(modes.c_cc[VEOF])
                                                                     : '\x04';
}

// Copies between the terminal and the master until the session ends.
class Session {
public:
    Session(int master, int signals, bool interactive, SessionEnd end)
        : master_(master), signals_(signals), interactive_(interactive), end_(end) {}

    void run() {
        for (;;) {
            const bool sending = ready_ && !held_.empty();
            const bool reading = stdinOpen_ && held_.size() < kMaxHeld;
            pollfd fds[3] = {{master_, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0},
                             {reading ? STDIN_FILENO : -1, POLLIN, 0},
                             {signals_, POLLIN, 0}};
            if (::poll(fds, 3, ready_ ? -1 : kNotReadyPollMs) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return;
            }
            if ((fds[2].revents & POLLIN) != 0) {
                signalfd_siginfo info{};
                while (::read(signals_, &info, sizeof(info)) > 0) {
                }
                copyWindowSize(master_);
            }
            if (fds[0].revents == 0) {
                noteQuietness();
            }
            if ((fds[1].revents & (POLLIN | POLLHUP)) != 0 && !fromStdin()) {
                return;
            }
            if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !fromMaster()) {
                return;
            }
            if ((fds[0].revents & POLLOUT) != 0 && !toMaster()) {
                return;
            }
        }
    }

private:
    // Input written before the other side set its terminal up is lost: the
    // unit's terminal reset flushes it (and a getty's does). It is held
    // until the other side speaks first (its prompt), or has been open and
    // silent for a while.
    void noteQuietness() {
        if (ready_) {
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (!quietSince_) {
            quietSince_ = now;
        } else if (now - *quietSince_ >= kQuietReadyAfter) {
            ready_ = true;
        }
    }

    // False when the session ends (the escape, or the master is gone).
    bool fromStdin() {
        auto count = ::read(STDIN_FILENO, buffer_, sizeof(buffer_));
        if (count < 0) {
            stdinOpen_ = errno == EINTR || errno == EAGAIN;
            return true;
        }
        if (count == 0) {
            // As at a terminal: end the last line, then end of input, so that
            // a shell reading a script from a pipe or /dev/null exits.
            stdinOpen_ = false;
            stdinEnded_ = true;
            if (!lastWasNewline_) {
                held_ += '\n';
            }
            held_ += endOfInput(master_);
            return true;
        }
        if (interactive_ && sawEscape(count)) {
            return false;
        }
        held_.append(buffer_, static_cast<std::size_t>(count));
        lastWasNewline_ = buffer_[count - 1] == '\n';
        return true;
    }

    bool sawEscape(ssize_t count) {
        for (ssize_t i = 0; i < count; ++i) {
            if (buffer_[i] != kEscape) {
                escapes_ = 0;
                continue;
            }
            auto now = std::chrono::steady_clock::now();
            if (escapes_ == 0 || now - firstEscape_ > kEscapeWindow) {
                escapes_ = 0;
                firstEscape_ = now;
            }
            if (++escapes_ == kEscapeCount) {
                return true;
            }
        }
        return false;
    }

    bool fromMaster() {
        auto count = ::read(master_, buffer_, sizeof(buffer_));
        if (count > 0) {
            opened_ = true;
            ready_ = true;
            return writeAll(STDOUT_FILENO, buffer_, static_cast<std::size_t>(count));
        }
        if (count < 0 && errno == EIO) {
            // No other side open: not yet, between a getty's hang-up and its
            // restart, or for good once the shell ended. A login session ends
            // there too once our input has ended: nobody is left to log in.
            if (opened_ && (end_ == SessionEnd::Hangup || stdinEnded_)) {
                return false;
            }
            ready_ = false;
            quietSince_.reset();
            ::usleep(20000);
            return true;
        }
        return !(count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN));
    }

    // As much of the held input as the terminal takes now; the master is
    // non-blocking, so that its output is still read while it is full.
    bool toMaster() {
        auto written = ::write(master_, held_.data(), held_.size());
        if (written < 0 && errno == EIO) {
            // The other side hung up (a getty between logins): what comes
            // next sets its terminal up again, and is waited for again.
            ready_ = false;
            quietSince_.reset();
            return true;
        }
        if (written < 0) {
            return errno == EINTR || errno == EAGAIN;
        }
        held_.erase(0, static_cast<std::size_t>(written));
        return true;
    }

    static constexpr std::size_t kMaxHeld = 65536;
    int master_;
    int signals_;
    bool interactive_;
    SessionEnd end_;
    bool stdinOpen_ = true;
    bool stdinEnded_ = false;
    bool lastWasNewline_ = true;
    bool opened_ = false;  // the other side wrote something: it is open
    bool ready_ = false;   // input reaches the other side now
    std::optional<std::chrono::steady_clock::time_point> quietSince_;
    std::string held_;
    int escapes_ = 0;
    std::chrono::steady_clock::time_point firstEscape_ = std::chrono::steady_clock::now();
    char buffer_[8192];
};

}  // namespace

bool writeAll(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        auto written = ::write(fd, data, size);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written < 0 && errno == EAGAIN) {
            pollfd wait{fd, POLLOUT, 0};
            ::poll(&wait, 1, 100);
            continue;
        }
        if (written <= 0) {
            return false;
        }
        data += written;
        size -= static_cast<std::size_t>(written);
    }
    return true;
}

void attachTerminal(int master, const std::string& container, SessionEnd end) {
    const bool interactive = ::isatty(STDIN_FILENO) == 1;
    if (interactive) {
        std::fprintf(stderr, "Connected to container %s. Press ^] three times within 1s to exit session.\n",
                     container.c_str());
    }
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigprocmask(SIG_BLOCK, &winch, nullptr);
    const int signals = ::signalfd(-1, &winch, SFD_CLOEXEC | SFD_NONBLOCK);
    copyWindowSize(master);
    ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
    {
        RawMode raw(STDIN_FILENO);
        Session(master, signals, interactive, end).run();
    }
    if (signals >= 0) {
        ::close(signals);
    }
    sigprocmask(SIG_UNBLOCK, &winch, nullptr);
    if (interactive) {
        std::fprintf(stderr, "\nConnection to container %s terminated.\n", container.c_str());
    }
}

}  // namespace nixos_containers::cli
