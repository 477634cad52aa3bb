// The CLI's relay (cli/relay.cpp): what a Run command gets in place of a
// terminal on stdin, stdout or stderr, against a PTY standing for the user's.
#include "relay.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

namespace nixos_containers::cli {
namespace {

struct Pty {
    int master = -1;
    int slave = -1;
    explicit Pty(bool raw) {
        EXPECT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
        if (raw) {
            termios modes{};
            ::tcgetattr(slave, &modes);
            ::cfmakeraw(&modes);
            ::tcsetattr(slave, TCSANOW, &modes);
        }
    }
    ~Pty() {
        ::close(master);
        ::close(slave);
    }
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;
};

// What `fd` has within `ms` (until it has `want`, or ends).
std::string readFor(int fd, int ms, const std::string& want = "") {
    std::string got;
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (want.empty() || got.find(want) == std::string::npos) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now())
                .count();
        pollfd wait{fd, POLLIN, 0};
        if (left <= 0 || ::poll(&wait, 1, static_cast<int>(left)) <= 0) {
            break;
        }
        char buffer[256];
        const auto count = ::read(fd, buffer, sizeof(buffer));
        if (count <= 0) {
            break;
        }
        got.append(buffer, static_cast<std::size_t>(count));
    }
    return got;
}

void writeText(int fd, const std::string& text) {
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

TEST(CliRelay, TheCommandNeverGetsATerminal) {
    Pty pty(true);
    StdioRelay relay(false, {pty.slave, pty.slave, pty.slave});
    for (int which = 0; which < 3; ++which) {
        EXPECT_NE(::isatty(relay.forCommand(which)), 1) << "descriptor " << which << " is the terminal";
    }
    // One pipe for stdout and stderr on one terminal: their lines keep their order.
    EXPECT_EQ(relay.forCommand(1), relay.forCommand(2));
}

TEST(CliRelay, WhatIsNoTerminalIsHandedOnAsItIs) {
    Pty pty(true);
    int ends[2];
    ASSERT_EQ(::pipe(ends), 0);
    StdioRelay relay(false, {ends[0], pty.slave, ends[1]});
    EXPECT_EQ(relay.forCommand(0), ends[0]);
    EXPECT_EQ(relay.forCommand(2), ends[1]);
    EXPECT_NE(::isatty(relay.forCommand(1)), 1);
    ::close(ends[0]);
    ::close(ends[1]);
}

TEST(CliRelay, OutputAndInputAreCopiedAndTheEndIsPrompt) {
    Pty pty(true);
    StdioRelay relay(false, {pty.slave, pty.slave, pty.slave});
    // The command's copies, as Run's message holds them.
    const int in = ::dup(relay.forCommand(0));
    const int out = ::dup(relay.forCommand(1));
    relay.start();
    writeText(out, "from the command\n");
    EXPECT_EQ(readFor(pty.master, 2000, "\n"), "from the command\n");
    writeText(pty.master, "typed\n");
    EXPECT_EQ(readFor(in, 2000, "\n"), "typed\n");
    writeText(out, "last words\n");
    ::close(in);
    ::close(out);
    const auto began = std::chrono::steady_clock::now();
    relay.finish();
    EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::milliseconds(200))
        << "the pipes had ended: finish need not wait";
    EXPECT_EQ(readFor(pty.master, 500, "\n"), "last words\n") << "what the command left is shown";
}

TEST(CliRelay, AnEndKeptInsideDoesNotHoldTheCli) {
    Pty pty(true);
    StdioRelay relay(false, {pty.slave, pty.slave, pty.slave});
    const int kept = ::dup(relay.forCommand(1));  // a process the container's root gave it to
    relay.start();
    const auto began = std::chrono::steady_clock::now();
    relay.finish();
    EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(2));
    ::close(kept);
}

TEST(CliRelay, AnEndlessWriterInsideDoesNotHoldTheCli) {
    Pty pty(true);
    StdioRelay relay(false, {pty.slave, pty.slave, pty.slave});
    const int kept = ::dup(relay.forCommand(1));  // a process the container's root gave it to
    relay.start();
    std::atomic<bool> stop{false};
    std::thread writer([&] {  // it never goes quiet
        while (!stop) {
            (void)::write(kept, "x\n", 2);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });
    std::thread drain([&] { (void)readFor(pty.master, 6000, "never"); });  // the user's terminal reads
    const auto began = std::chrono::steady_clock::now();
    relay.finish();
    const auto took = std::chrono::steady_clock::now() - began;
    stop = true;
    writer.join();
    drain.join();
    ::close(kept);
    EXPECT_LT(took, std::chrono::seconds(4))
        << "a writer that never stops held the CLI after its command ended";
}

TEST(CliRelay, ThePasswordTheAgentAsksForIsNotTheCommands) {
    Pty pty(false);  // a terminal as a user has it: canonical, echoing
    StdioRelay relay(true, {pty.slave, pty.slave, pty.slave});
    const int in = ::dup(relay.forCommand(0));
    relay.start();
    // pkttyagent's prompt: echo off while it reads the password.
    termios modes{};
    ::tcgetattr(pty.slave, &modes);
    modes.c_lflag &= ~ECHO;
    ::tcsetattr(pty.slave, TCSANOW, &modes);
    ::usleep(250 * 1000);  // the relay sees the terminal is the agent's
    writeText(pty.master, "secret\n");
    EXPECT_EQ(readFor(in, 500), "") << "the password went to the command";
    ::fcntl(pty.slave, F_SETFL, ::fcntl(pty.slave, F_GETFL) | O_NONBLOCK);
    char buffer[64];
    const auto count = ::read(pty.slave, buffer, sizeof(buffer));
    EXPECT_EQ(std::string(buffer, count > 0 ? static_cast<std::size_t>(count) : 0), "secret\n")
        << "the agent did not get its password";
    ::fcntl(pty.slave, F_SETFL, ::fcntl(pty.slave, F_GETFL) & ~O_NONBLOCK);
    modes.c_lflag |= ECHO;
    ::tcsetattr(pty.slave, TCSANOW, &modes);
    ::usleep(250 * 1000);
    writeText(pty.master, "ls\n");
    EXPECT_EQ(readFor(in, 2000, "\n"), "ls\n") << "once the agent is done, input is the command's again";
    ::close(in);
    relay.finish();
}

}  // namespace
}  // namespace nixos_containers::cli
