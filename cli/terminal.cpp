#include "terminal.h"

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

// Copies between the terminal and the master until the session ends.
void forward(int master, int signals, bool interactive, SessionEnd end) {
    bool stdinOpen = true;
    bool opened = false;  // the other side wrote something: it is open
    int escapes = 0;
    auto firstEscape = std::chrono::steady_clock::now();
    char buffer[8192];
    for (;;) {
        pollfd fds[3] = {
            {master, POLLIN, 0}, {stdinOpen ? STDIN_FILENO : -1, POLLIN, 0}, {signals, POLLIN, 0}};
        if (::poll(fds, 3, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if ((fds[2].revents & POLLIN) != 0) {
            signalfd_siginfo info{};
            while (::read(signals, &info, sizeof(info)) > 0) {
            }
            copyWindowSize(master);
        }
        if ((fds[1].revents & (POLLIN | POLLHUP)) != 0) {
            auto count = ::read(STDIN_FILENO, buffer, sizeof(buffer));
            if (count <= 0) {
                stdinOpen = count < 0 && errno == EINTR;
            } else {
                for (ssize_t i = 0; i < count && interactive; ++i) {
                    if (buffer[i] != kEscape) {
                        escapes = 0;
                        continue;
                    }
                    auto now = std::chrono::steady_clock::now();
                    if (escapes == 0 || now - firstEscape > kEscapeWindow) {
                        escapes = 0;
                        firstEscape = now;
                    }
                    if (++escapes == kEscapeCount) {
                        return;
                    }
                }
                if (!writeAll(master, buffer, static_cast<std::size_t>(count))) {
                    break;
                }
            }
        }
        if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
            auto count = ::read(master, buffer, sizeof(buffer));
            if (count > 0) {
                opened = true;
                if (!writeAll(STDOUT_FILENO, buffer, static_cast<std::size_t>(count))) {
                    break;
                }
            } else if (count < 0 && errno == EIO) {
                // No other side open: not yet, between a getty's hang-up
                // and its restart, or for good once the shell ended.
                if (end == SessionEnd::Hangup && opened) {
                    break;
                }
                ::usleep(20000);
            } else if (count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN)) {
                break;
            }
        }
    }
}

}  // namespace

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
    {
        RawMode raw(STDIN_FILENO);
        forward(master, signals, interactive, end);
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
