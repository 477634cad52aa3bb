// The CLI's command line (cli/command_line.cpp, cli/verbs.cpp): parsed as
// the old tool parsed it, and --help, the man page and the completion words
// all derived from the same rows.
#include "bus_client.h"
#include "command_line.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nixos_containers::cli {
namespace {

Options parse(std::vector<std::string> words) {
    words.insert(words.begin(), "nixos-container");
    std::vector<char*> argv;
    for (auto& word : words) {
        argv.push_back(word.data());
    }
    return parseCommandLine(static_cast<int>(argv.size()), argv.data());
}

TEST(CliCommandLine, FlagsGoAnywhereAndDashDashEndsThem) {
    auto options =
        parse({"create", "--system-path", "/nix/store/x", "web", "--auto-start", "--port=80:8080"});
    EXPECT_EQ(options.words, (std::vector<std::string>{"create", "web"}));
    EXPECT_EQ(options.systemPath, "/nix/store/x");
    EXPECT_EQ(options.port, "80:8080");
    EXPECT_TRUE(options.autoStart);
    auto run = parse({"run", "web", "--", "ls", "--all", "-l"});
    EXPECT_EQ(run.words, (std::vector<std::string>{"run", "web", "--", "ls", "--all", "-l"}));
    auto host = parse({"-H", "alice@far", "list", "--no-ask-password"});
    EXPECT_EQ(host.host, "alice@far");
    EXPECT_FALSE(host.askPassword);
}

TEST(CliCommandLine, NixPassThroughFlagsAreKeptWithTheirValues) {
    auto options =
        parse({"update", "web", "--option", "cores", "4", "--impure", "--override-input", "a", "b"});
    EXPECT_EQ(options.nixFlags,
              (std::vector<std::string>{"--option", "cores", "4", "--impure", "--override-input", "a", "b"}));
    EXPECT_EQ(options.words, (std::vector<std::string>{"update", "web"}));
}

TEST(CliCommandLine, BadFlagsAreUsageErrors) {
    for (const auto& words : std::vector<std::vector<std::string>>{{"list", "--frobnicate"},
                                                                   {"create", "web", "--config"},
                                                                   {"list", "--json=yes"},
                                                                   {"run", "-x"}}) {
        try {
            parse(words);
            ADD_FAILURE() << words.back() << " was accepted";
        } catch (const CliError& error) {
            EXPECT_EQ(error.code, kExitUsage) << error.message;
        }
    }
}

TEST(CliCommandLine, HelpManPageAndCompletionComeFromTheRows) {
    const auto help = helpText();
    const auto man = manPage();
    const auto verbs = completionWords("verbs");
    const auto flags = completionWords("flags");
    ASSERT_GE(verbTable().size(), 14U);
    for (const auto& verb : verbTable()) {
        EXPECT_NE(verb.handler, nullptr) << verb.name;
        EXPECT_NE(help.find("  " + std::string(verb.name)), std::string::npos) << verb.name;
        std::string escaped;
        for (char c : verb.name) {
            escaped += c == '-' ? std::string("\\-") : std::string(1, c);
        }
        EXPECT_NE(man.find(".B " + escaped), std::string::npos) << verb.name;
        EXPECT_NE(verbs.find(std::string(verb.name) + "\n"), std::string::npos) << verb.name;
    }
    for (const auto& flag : flagTable()) {
        EXPECT_NE(help.find("--" + std::string(flag.name)), std::string::npos) << flag.name;
        EXPECT_NE(flags.find("--" + std::string(flag.name) + "\n"), std::string::npos) << flag.name;
    }
    // The old tool's verbs are all there.
    for (const char* old : {"list", "create", "destroy", "start", "stop", "restart", "terminate", "status",
                            "update", "login", "root-login", "run", "show-ip", "show-host-key"}) {
        EXPECT_NE(verbs.find(std::string(old) + "\n"), std::string::npos) << old;
    }
}

TEST(CliCommandLine, EachErrorClassHasItsExitCode) {
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.NoSuchContainer"), kExitNoSuchContainer);
    EXPECT_EQ(exitCodeOf("org.freedesktop.DBus.Error.AccessDenied"), kExitDenied);
    EXPECT_EQ(exitCodeOf("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"), kExitDenied);
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.InvalidArgument"), kExitInvalid);
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.AlreadyExists"), kExitInvalid);
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.Busy"), kExitBusy);
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.NotRunning"), kExitNotRunning);
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.NoSystemBus"), kExitNotRunning);
    EXPECT_EQ(exitCodeOf("org.freedesktop.DBus.Error.ServiceUnknown"), kExitUnreachable);
    EXPECT_EQ(exitCodeOf("org.nixos.Containers.Error.BuildFailed"), kExitFailed);
}

TEST(CliCommandLine, EachVerbHasItsOwnHelpWithItsFlags) {
    const auto global = helpText();
    for (const auto& verb : verbTable()) {
        const auto help = verbHelpText(verb);
        EXPECT_NE(help, global) << verb.name;
        EXPECT_TRUE(help.starts_with("Usage: nixos-container [OPTIONS] " + std::string(verb.name))) << help;
        EXPECT_NE(help.find(verb.help), std::string::npos) << verb.name;
        EXPECT_EQ(help.find("Verbs:"), std::string::npos) << verb.name;
        for (const auto& flag : flagTable()) {
            EXPECT_EQ(
                help.find("--" + std::string(flag.name) + " "),
                flag.isFor(verb.name) ? help.find("--" + std::string(flag.name) + " ") : std::string::npos)
                << verb.name << " --" << flag.name;
        }
    }
    const auto create = verbHelpText(*findVerb("create"));
    EXPECT_NE(create.find("--config-file FILE"), std::string::npos) << create;
    EXPECT_NE(create.find("--host [USER@]HOST"), std::string::npos) << create;
    EXPECT_EQ(create.find("--json"), std::string::npos) << create;
    const auto list = verbHelpText(*findVerb("list"));
    EXPECT_NE(list.find("--json"), std::string::npos) << list;
    EXPECT_EQ(list.find("--config-file"), std::string::npos) << list;
    // Each says how it exits: the shared classes, and its own status where it has one.
    for (const auto& verb : verbTable()) {
        const auto help = verbHelpText(verb);
        EXPECT_NE(help.find("Exit status:\n  0 success"), std::string::npos) << help;
        if (!verb.exits.empty()) {
            EXPECT_NE(help.find("  " + std::string(verb.name) + ": " + std::string(verb.exits)),
                      std::string::npos)
                << help;
        }
    }
    const auto rootLogin = verbHelpText(*findVerb("root-login"));
    EXPECT_NE(rootLogin.find("without a terminal on stdin, the shell's status"), std::string::npos)
        << rootLogin;
    EXPECT_NE(rootLogin.find("at a terminal 0"), std::string::npos) << rootLogin;
    EXPECT_NE(verbHelpText(*findVerb("run")).find("run: the command's status, or 128+N"), std::string::npos);
    EXPECT_EQ(verbHelpText(*findVerb("run")).find("root-login:"), std::string::npos) << "only its own";
    // The global help still says which verbs a flag is for.
    EXPECT_NE(global.find("[create, update] A NixOS module file"), std::string::npos) << global;
}

TEST(CliCommandLine, VerbHelpIsWhatVerbDashDashHelpAsks) {
    auto options = parse({"create", "--help"});
    EXPECT_TRUE(options.help);
    ASSERT_FALSE(options.words.empty());
    ASSERT_NE(findVerb(options.words[0]), nullptr);
    EXPECT_EQ(findVerb("frobnicate"), nullptr);
}

TEST(CliCommandLine, CompletionKnowsWhichFlagsTakeValuesAndWhat) {
    const auto values = completionWords("values");
    EXPECT_NE(values.find("-H [USER@]HOST\n"), std::string::npos) << values;
    EXPECT_NE(values.find("--host [USER@]HOST\n"), std::string::npos) << values;
    EXPECT_NE(values.find("--config-file FILE\n"), std::string::npos) << values;
    EXPECT_NE(values.find("--option NAME VALUE\n"), std::string::npos) << values;
    EXPECT_EQ(values.find("--json"), std::string::npos) << values;
}

TEST(CliCommandLine, NoServiceSaysItIsNotRunningAndHowToStartIt) {
    for (const char* name :
         {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
          "org.freedesktop.DBus.Error.NoServer", "org.freedesktop.systemd1.UnitMasked"}) {
        auto error = cliErrorOf(name, "The name org.nixos.Containers was not provided by any .service files");
        EXPECT_EQ(error.code, kExitUnreachable) << name;
        EXPECT_NE(error.message.find("service is not running"), std::string::npos) << error.message;
        EXPECT_NE(error.message.find("systemctl start nixos-containers"), std::string::npos) << error.message;
    }
    EXPECT_EQ(cliErrorOf("org.freedesktop.DBus.Error.ServiceUnknown", "was not provided")
                  .message.find("was not provided"),
              std::string::npos);
}

TEST(CliCommandLine, AChallengeSaysWhatTheUserCanDo) {
    const std::string what = "uid 61003 must authenticate for org.nixos.containers.manage (start 'web')";
    for (const std::string& advice : {std::string("; call with interactive authorization allowed"),
                                      std::string(", and no polkit authentication agent was there to ask")}) {
        auto error = cliErrorOf("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", what + advice);
        EXPECT_EQ(error.code, kExitDenied);
        EXPECT_TRUE(error.message.starts_with(what)) << error.message;
        EXPECT_EQ(error.message.find("interactive authorization"), std::string::npos) << error.message;
        EXPECT_NE(error.message.find("at a terminal"), std::string::npos) << error.message;
        EXPECT_NE(error.message.find("--no-ask-password"), std::string::npos) << error.message;
        EXPECT_NE(error.message.find("administrator"), std::string::npos) << error.message;
    }
    // Other errors keep the service's own message.
    EXPECT_EQ(cliErrorOf("org.nixos.Containers.Error.Busy", "web is busy").message, "web is busy");
}

}  // namespace
}  // namespace nixos_containers::cli
