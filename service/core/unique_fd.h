#pragma once

#include <unistd.h>

#include <utility>

namespace nixos_containers {

// Owns one file descriptor; closed when dropped.
class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    [[nodiscard]] int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_;
};

// The three descriptors a caller hands over for a command's stdin, stdout
// and stderr. Shared by the steps that carry them; whoever forks the command
// closes them right after, so the caller sees end of file as soon as the
// command (and not the service) lets go of them.
struct StdioFds {
    UniqueFd in;
    UniqueFd out;
    UniqueFd err;
    void close() {
        in.reset();
        out.reset();
        err.reset();
    }
};

}  // namespace nixos_containers
