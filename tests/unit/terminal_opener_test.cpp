// OpenShell and OpenLogin (TerminalOpener): validated, authorised with
// their own actions and details, only for a running container, then handed
// to machined (the fake here; the real one in sandbox_exec_e2e).
#include "manager_fixture.h"

#include <unistd.h>

#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

class TerminalOpenerTest : public ContainerManagerTest {
protected:
    void startWeb() { startRunning("web"); }
    Outcome<MachineTerminal> shell(const Caller& caller, const std::string& name, ShellRequest request) {
        std::optional<Outcome<MachineTerminal>> answer;
        int answers = 0;
        manager().openShell(caller, name, std::move(request), [&](Outcome<MachineTerminal> terminal) {
            answer = std::move(terminal);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(ContainerError(ErrorCode::Failed, "no answer"));
    }
    Outcome<MachineTerminal> login(const Caller& caller, const std::string& name) {
        std::optional<Outcome<MachineTerminal>> answer;
        int answers = 0;
        manager().openLogin(caller, name, [&](Outcome<MachineTerminal> terminal) {
            answer = std::move(terminal);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(ContainerError(ErrorCode::Failed, "no answer"));
    }
};

TEST_F(TerminalOpenerTest, AShellIsMachinedsTerminalForTheRequestAsGiven) {
    startWeb();
    auto terminal = shell(root, "web", {"alice", "/bin/sh", {"sh", "-c", "id"}, {"TERM=xterm"}});
    ASSERT_TRUE(terminal.ok()) << terminal.error().what();
    EXPECT_GE(terminal.value().master->get(), 0);
    EXPECT_EQ(terminal.value().path, "/dev/pts/0");
    ASSERT_EQ(machines.shells.size(), 1U);
    EXPECT_EQ(machines.shells[0].first, "web");
    EXPECT_EQ(machines.shells[0].second.user, "alice");
    EXPECT_EQ(machines.shells[0].second.path, "/bin/sh");
    EXPECT_EQ(machines.shells[0].second.args, (std::vector<std::string>{"sh", "-c", "id"}));
    EXPECT_EQ(machines.shells[0].second.environment, (std::vector<std::string>{"TERM=xterm"}));
}

TEST_F(TerminalOpenerTest, ShellAndLoginHaveTheirOwnActionsAndDetails) {
    startWeb();
    authorizer.answers[user.uid] = Authorization::Denied;
    EXPECT_EQ(shell(user, "web", {"", "/bin/sh", {"sh", "-c", "id"}, {}}).error().code(),
              ErrorCode::AccessDenied);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.shell");
    EXPECT_EQ(authorizer.checks[0].second.at("verb"), "shell");
    EXPECT_EQ(authorizer.checks[0].second.at("container"), "web");
    EXPECT_EQ(authorizer.checks[0].second.at("user"), "root");
    EXPECT_EQ(authorizer.checks[0].second.at("command"), "sh -c id");
    // The login shell: no command words.
    EXPECT_EQ(shell(user, "web", {"alice", "", {}, {}}).error().code(), ErrorCode::AccessDenied);
    EXPECT_EQ(authorizer.checks[1].second.at("user"), "alice");
    EXPECT_EQ(authorizer.checks[1].second.at("command"), "");
    authorizer.answers[user.uid] = Authorization::ChallengeRequired;
    EXPECT_EQ(login(user, "web").error().code(), ErrorCode::InteractiveAuthorizationRequired);
    EXPECT_EQ(authorizer.checks[2].first, "org.nixos.containers.login");
    EXPECT_EQ(authorizer.checks[2].second.at("verb"), "login");
    EXPECT_TRUE(machines.shells.empty());
    EXPECT_TRUE(machines.logins.empty());
    authorizer.answers[user.uid] = Authorization::Allowed;
    EXPECT_TRUE(login(user, "web").ok());
    EXPECT_EQ(machines.logins, (std::vector<std::string>{"web"}));
}

TEST_F(TerminalOpenerTest, BadInputIsNamedBeforePolkitIsAsked) {
    EXPECT_EQ(shell(user, "nope", {}).error().code(), ErrorCode::NoSuchContainer);
    EXPECT_EQ(login(user, "nope").error().code(), ErrorCode::NoSuchContainer);
    EXPECT_EQ(login(user, "../etc").error().code(), ErrorCode::InvalidArgument);
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    EXPECT_EQ(shell(user, "web", {"a:b", "", {}, {}}).error().code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(shell(user, "web", {"", "bin/sh", {}, {}}).error().code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(shell(user, "web", {"", "", {"sh"}, {}}).error().code(), ErrorCode::InvalidArgument);
    EXPECT_EQ(shell(user, "web", {"", "/bin/sh", {}, {"NOEQUALS"}}).error().code(),
              ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty());
    EXPECT_TRUE(machines.shells.empty());
}

TEST_F(TerminalOpenerTest, AStoppedContainerIsNotRunningAndMachinedsErrorsPassThrough) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    EXPECT_EQ(shell(root, "web", {}).error().code(), ErrorCode::NotRunning);
    EXPECT_EQ(login(root, "web").error().code(), ErrorCode::NotRunning);
    EXPECT_TRUE(machines.shells.empty());
    EXPECT_TRUE(machines.logins.empty());
    machines.machines["web"] = {"web", "nixos-container@web.service", static_cast<std::uint32_t>(::getpid()),
                                "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    machines.terminalErrors.emplace("web", ContainerError(ErrorCode::NoSystemBus, "no bus"));
    EXPECT_EQ(shell(root, "web", {}).error().code(), ErrorCode::NoSystemBus);
    EXPECT_EQ(login(root, "web").error().code(), ErrorCode::NoSystemBus);
}

// Issue 25, item 2: a shell or a login in a container whose root is the
// host's is host access.
TEST_F(TerminalOpenerTest, ATerminalInAContainerWithoutAUserNamespaceNeedsHostAccess) {
    startWeb();  // root's: PrivateUsers "no"
    authorizer.actionAnswers["org.nixos.containers.shell"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.login"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::ChallengeRequired;
    auto refused = shell(user, "web", {"", "/bin/sh", {}, {}});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::InteractiveAuthorizationRequired);
    EXPECT_NE(std::string(refused.error().what()).find("host-access (shell 'web' with PrivateUsers)"),
              std::string::npos)
        << refused.error().what();
    EXPECT_EQ(login(user, "web").error().code(), ErrorCode::InteractiveAuthorizationRequired);
    ASSERT_EQ(authorizer.checks.size(), 4U);
    EXPECT_EQ(authorizer.checks[1].first, "org.nixos.containers.host-access");
    EXPECT_EQ(authorizer.checks[1].second.at("keys"), "PrivateUsers");
    EXPECT_EQ(authorizer.checks[1].second.at("user"), "root");
    EXPECT_EQ(authorizer.checks[3].first, "org.nixos.containers.host-access");
    EXPECT_EQ(authorizer.checks[3].second.at("verb"), "login");
    EXPECT_TRUE(machines.shells.empty());
    EXPECT_TRUE(machines.logins.empty());
    authorizer.actionAnswers["org.nixos.containers.host-access"] = Authorization::Allowed;
    EXPECT_TRUE(shell(user, "web", {"", "/bin/sh", {}, {}}).ok());
    EXPECT_TRUE(login(user, "web").ok());
}

TEST_F(TerminalOpenerTest, ATerminalInAUserNamespacedContainerNeedsOnlyItsAction) {
    auto spec = systemSpec();
    spec.privateUsers = "pick";
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", static_cast<std::uint32_t>(::getpid()),
                                "", 0};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    authorizer.actionAnswers["org.nixos.containers.shell"] = Authorization::Allowed;
    authorizer.actionAnswers["org.nixos.containers.login"] = Authorization::Allowed;
    EXPECT_TRUE(shell(user, "web", {"", "/bin/sh", {}, {}}).ok());
    EXPECT_TRUE(login(user, "web").ok());
    EXPECT_EQ(authorizer.checks.size(), 2U);
}

}  // namespace
}  // namespace nixos_containers
