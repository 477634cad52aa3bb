#pragma once

#include <cstddef>
#include <string>

namespace nixos_containers::cli {

enum class SessionEnd {
    // A shell: the session ends when the shell hangs the terminal up (once
    // it had opened it: a master reads EIO before the container's unit opens
    // the other side).
    Hangup,
    // A login prompt: getty hangs up and starts again after every logout, as
    // with machinectl login; only the escape ends the session.
    EscapeOnly,
};

// Attaches this process's terminal to the PTY `master`, as machinectl does:
// raw mode on a terminal, its window size passed on (and on every SIGWINCH),
// ^] three times within a second ends the session. Without a terminal, stdin
// and stdout are copied as they are. Returns when the session ended.
void attachTerminal(int master, const std::string& container, SessionEnd end);

// Writes all of DATA to FD, through EINTR, and through EAGAIN on a
// non-blocking FD; false when FD is closed or fails.
bool writeAll(int fd, const char* data, std::size_t size);

}  // namespace nixos_containers::cli
