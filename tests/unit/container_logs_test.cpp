// OpenLogs (ContainerLogs): authorised with its own action for an existing
// container in any state, bounded, and the journal's lines made safe to
// print (formatLogLine); the real journal in sandbox_logs.
#include "manager_fixture.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <array>

namespace nixos_containers {
namespace {

class ContainerLogsTest : public ContainerManagerTest {
protected:
    Outcome<std::shared_ptr<UniqueFd>> logs(const Caller& caller, const std::string& name,
                                            std::uint32_t lines, bool follow) {
        std::optional<Outcome<std::shared_ptr<UniqueFd>>> answer;
        int answers = 0;
        manager().openLogs(caller, name, lines, follow, [&](Outcome<std::shared_ptr<UniqueFd>> stream) {
            answer = std::move(stream);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(ContainerError(ErrorCode::Failed, "no answer"));
    }
    static std::string readAll(const UniqueFd& fd) {
        std::string text;
        std::array<char, 4096> buffer{};
        for (ssize_t got = 0; (got = ::read(fd.get(), buffer.data(), buffer.size())) > 0;) {
            text.append(buffer.data(), static_cast<std::size_t>(got));
        }
        return text;
    }
};

TEST_F(ContainerLogsTest, AStoppedContainersLogsComeFromItsUnitsJournal) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    journal.lines = {"one\n", "two\n"};
    auto stream = logs(root, "web", 20, true);
    ASSERT_TRUE(stream.ok()) << stream.error().what();
    EXPECT_EQ(readAll(*stream.value()), "one\ntwo\n");
    ASSERT_EQ(journal.requests.size(), 1U);
    EXPECT_EQ(journal.requests[0].unit, manager().get("web").unit);
    EXPECT_FALSE(journal.requests[0].unit.empty());
    EXPECT_EQ(journal.requests[0].lines, 20U);
    EXPECT_TRUE(journal.requests[0].follow);
    // Nothing of an earlier container of that name: from this one's Create on.
    ASSERT_FALSE(manager().get("web").generations.empty());
    EXPECT_EQ(journal.requests[0].sinceUsec, manager().get("web").generations.front().createdUsec);
    EXPECT_GT(journal.requests[0].sinceUsec, 0U);
}

TEST_F(ContainerLogsTest, LogsHaveTheirOwnActionAndTheCallerIsCounted) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    authorizer.answers[user.uid] = Authorization::Denied;
    EXPECT_EQ(logs(user, "web", 10, false).error().code(), ErrorCode::AccessDenied);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.logs");
    EXPECT_EQ(authorizer.checks[0].second.at("verb"), "logs");
    EXPECT_EQ(authorizer.checks[0].second.at("container"), "web");
    EXPECT_TRUE(journal.requests.empty());  // refused before the journal is opened
    authorizer.answers[user.uid] = Authorization::Allowed;
    ASSERT_TRUE(logs(user, "web", 10, false).ok());
    ASSERT_EQ(journal.requests.size(), 1U);
    EXPECT_EQ(journal.requests[0].caller, user.uid);
}

TEST_F(ContainerLogsTest, BadRequestsAndTheJournalsRefusalAreNamedErrors) {
    EXPECT_EQ(logs(root, "nosuch", 10, false).error().code(), ErrorCode::NoSuchContainer);
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    EXPECT_EQ(logs(root, "web", kMaxLogLines + 1, false).error().code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty() && journal.requests.empty());
    journal.error = ContainerError(ErrorCode::LimitsExceeded, "too many logs open");
    EXPECT_EQ(logs(root, "web", 10, false).error().code(), ErrorCode::LimitsExceeded);
}

TEST(FormatLogLine, TimeIdentifierPidAndMessage) {
    EXPECT_EQ(formatLogLine(1765028679123456ULL, "systemd-nspawn", "42", "Container web started."),
              "2025-12-06T13:44:39.123456Z systemd-nspawn[42]: Container web started.\n");
    EXPECT_EQ(formatLogLine(0, "", "", "x"), "1970-01-01T00:00:00.000000Z -: x\n");
}

// The container's root writes what it likes to its console: nothing of it
// may reach the reader's terminal as a control sequence.
TEST(FormatLogLine, ControlCharactersAndInvalidUtf8AreEscaped) {
    EXPECT_EQ(formatLogLine(0, "sh", "1", "a\x1b]0;owned\x07\tb\nc\rd"),
              "1970-01-01T00:00:00.000000Z sh[1]: a\\x1b]0;owned\\x07\tb\\x0ac\\x0dd\n");
    EXPECT_EQ(formatLogLine(0, "sh", "1", "caf\xc3\xa9 \xff\xc3 \xed\xa0\x80 \xc2\x9b"),
              "1970-01-01T00:00:00.000000Z sh[1]: caf\xc3\xa9 \\xff\\xc3 \\xed\\xa0\\x80 \\xc2\\x9b\n");
    EXPECT_EQ(formatLogLine(0, "a\x1b", "1\n", "m"), "1970-01-01T00:00:00.000000Z a\\x1b[1\\x0a]: m\n");
}

TEST(FormatLogLine, ALongMessageIsCutAndSaysSo) {
    const std::string message(kMaxLogMessage + 10, 'x');
    const auto line = formatLogLine(0, "sh", "1", message);
    EXPECT_NE(line.find(std::string(kMaxLogMessage, 'x') + " [10 more bytes cut]\n"), std::string::npos);
    EXPECT_EQ(line.find(std::string(kMaxLogMessage + 1, 'x')), std::string::npos);
}

}  // namespace
}  // namespace nixos_containers
