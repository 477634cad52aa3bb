// The CLI's terminal session (cli/terminal.cpp) without a terminal of its
// own, against a PTY whose other side opens late and flushes its input as a
// container's unit does (systemd resets the terminal before the shell runs).
#include "terminal.h"

#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace nixos_containers::cli {
namespace {

std::string readAll(int fd) {
    std::string out;
    char buffer[4096];
    for (ssize_t count; (count = ::read(fd, buffer, sizeof(buffer))) != 0;) {
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        out.append(buffer, static_cast<std::size_t>(count));
    }
    return out;
}

// The other side: opens the PTY after a while, flushes what was typed before,
// prompts, reads lines until end of input, and reports them on `report`.
[[noreturn]] void lateShell(const std::string& slavePath, int report) {
    ::usleep(300 * 1000);
    const int slave = ::open(slavePath.c_str(), O_RDWR | O_NOCTTY);
    if (slave < 0) {
        ::_exit(1);
    }
    termios modes{};
    ::tcgetattr(slave, &modes);
    modes.c_lflag &= ~ECHO;
    ::tcsetattr(slave, TCSAFLUSH, &modes);
    (void)::write(slave, "$ ", 2);
    std::string got;
    char buffer[256];
    for (ssize_t count; (count = ::read(slave, buffer, sizeof(buffer))) > 0;) {
        got.append(buffer, static_cast<std::size_t>(count));
    }
    (void)::write(report, got.data(), got.size());
    ::_exit(0);
}

struct Session {
    std::string shellRead;
    std::string shown;
    int cliStatus = -1;
};

Session runSession(const std::string& input, SessionEnd end) {
    int master = -1;
    int slave = -1;
    EXPECT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
    const std::string slavePath = ::ptsname(master);
    int report[2];
    int feed[2];
    int shown[2];
    EXPECT_EQ(::pipe(report), 0);
    EXPECT_EQ(::pipe(feed), 0);
    EXPECT_EQ(::pipe(shown), 0);
    const pid_t shell = ::fork();
    if (shell == 0) {
        for (int fd : {master, slave, report[0], feed[0], feed[1], shown[0], shown[1]}) {
            ::close(fd);
        }
        lateShell(slavePath, report[1]);
    }
    ::close(slave);  // as machined's: nobody has the other side open yet
    ::close(report[1]);
    const pid_t cli = ::fork();
    if (cli == 0) {
        ::alarm(10);  // a session that does not end is killed: the test sees SIGALRM
        ::dup2(feed[0], STDIN_FILENO);
        ::dup2(shown[1], STDOUT_FILENO);
        ::close(feed[1]);
        ::close(shown[0]);
        attachTerminal(master, "test", end);
        ::_exit(0);
    }
    ::close(master);
    ::close(feed[0]);
    ::close(shown[1]);
    (void)::write(feed[1], input.data(), input.size());
    ::close(feed[1]);
    Session session;
    session.shown = readAll(shown[0]);
    int status = 0;
    ::waitpid(cli, &status, 0);
    session.cliStatus = status;
    ::kill(shell, SIGKILL);
    ::waitpid(shell, nullptr, 0);
    session.shellRead = readAll(report[0]);
    ::close(report[0]);
    ::close(shown[0]);
    return session;
}

TEST(CliTerminal, PipedInputReachesALateShellAndItsEndEndsTheSession) {
    auto session = runSession("echo one\nexit 5", SessionEnd::Hangup);
    EXPECT_TRUE(WIFEXITED(session.cliStatus) && WEXITSTATUS(session.cliStatus) == 0)
        << "the session did not end by itself: status " << session.cliStatus;
    EXPECT_EQ(session.shellRead, "echo one\nexit 5\n");
    EXPECT_EQ(session.shown, "$ ");
}

TEST(CliTerminal, NoInputAtAllStillEndsTheSession) {
    auto session = runSession("", SessionEnd::Hangup);
    EXPECT_TRUE(WIFEXITED(session.cliStatus) && WEXITSTATUS(session.cliStatus) == 0)
        << "the session did not end by itself: status " << session.cliStatus;
    EXPECT_EQ(session.shellRead, "");
}

TEST(CliTerminal, ALoginSessionEndsOnceInputEndedAndTheGettyHungUp) {
    auto session = runSession("root\n", SessionEnd::EscapeOnly);
    EXPECT_TRUE(WIFEXITED(session.cliStatus) && WEXITSTATUS(session.cliStatus) == 0)
        << "the session did not end by itself: status " << session.cliStatus;
    EXPECT_EQ(session.shellRead, "root\n");
}

}  // namespace
}  // namespace nixos_containers::cli
