#pragma once

// The descriptors a Run gets in place of this process's stdin, stdout and
// stderr. Run hands them to a command inside the container, whose root is
// hostile: a host terminal there could be kept open after the command ended,
// or fed keystrokes (TIOCSTI) that the host's shell would then run. So each
// of the three that is a terminal is replaced by a pipe this process copies;
// the others (files, pipes, /dev/null) are handed on as they are.
#include <array>
#include <atomic>
#include <string>
#include <thread>

namespace nixos_containers::cli {

class StdioRelay {
public:
    // `fds` stand for stdin, stdout and stderr (a test's own terminal).
    // `agentAsks`: polkit's text agent (pkttyagent) may ask for a password
    // on the same terminal while the call is authorised, so input is not
    // taken from it while the agent has turned its echo off.
    explicit StdioRelay(bool agentAsks = false, std::array<int, 3> fds = {0, 1, 2});
    ~StdioRelay();
    StdioRelay(const StdioRelay&) = delete;
    StdioRelay& operator=(const StdioRelay&) = delete;

    // What the command gets as descriptor `which` (0, 1 or 2): never a terminal.
    [[nodiscard]] int forCommand(int which) const { return commandFds_[which]; }
    // Once the descriptors are handed over (the call is sent or answered):
    // drops this process's copies of the command's ends and starts copying.
    void start();
    // Once the command ended: copies what it left in the pipes until they
    // are closed, or are quiet for a moment (a process the container's root
    // handed an end to cannot keep this process waiting), then stops.
    void finish();

private:
    void copyLoop();
    [[nodiscard]] bool agentHasTheTerminal() const;
    // False at the terminal's end of input.
    bool readInput(std::string& held);
    // False once the command closed its stdin.
    bool writeInput(std::string& held);
    void copyOutput(int which);

    std::array<int, 3> ownFds_;
    std::array<int, 3> commandFds_{-1, -1, -1};
    std::array<int, 3> relayFds_{-1, -1, -1};  // our end of each pipe; -1: handed on as it is
    std::array<bool, 3> ownsCommandFd_{false, false, false};
    bool yieldToAgent_ = false;  // the agent may ask, and the terminal echoed when we began
    int wake_ = -1;              // eventfd: finish() was called
    std::atomic<bool> finishing_{false};
    std::thread copier_;
};

}  // namespace nixos_containers::cli
