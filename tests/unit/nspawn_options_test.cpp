// nspawn's option table and getopt_long() as the core reads them
// (nspawn_options.h), checked against the installed systemd-nspawn.
#include "nspawn_options.h"
#include "container_paths.h"
#include "nspawn_command.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace nixos_containers {
namespace {

using Words = std::vector<std::string>;

// `systemd-nspawn --help`'s text, or empty when it cannot run.
std::string installedHelp() {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen("systemd-nspawn --help 2>/dev/null", "r"), pclose);
    if (!pipe) {
        return {};
    }
    std::string out;
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
        out.append(buffer.data(), n);
    }
    return out;
}

// The embedded table and the installed nspawn's --help name the same long
// options (but the deprecated, hidden ones) and the same short ones: when
// systemd changes, this goes red.
TEST(NspawnOptions, TableMatchesTheInstalledHelp) {
    auto help = installedHelp();
    if (help.empty()) {
        GTEST_SKIP() << "systemd-nspawn --help does not run here";
    }
    std::set<std::string> inHelp;
    std::regex longOption("--([a-z0-9][a-z0-9-]*)");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), longOption); it != std::sregex_iterator();
         ++it) {
        inHelp.insert((*it)[1]);
    }
    std::set<std::string> inTable;
    for (const auto& option : nspawnLongOptions()) {
        inTable.insert(std::string(option.longName));
    }
    for (auto hidden : nspawnHiddenLongOptions()) {
        EXPECT_TRUE(inTable.erase(std::string(hidden))) << hidden;
    }
    EXPECT_EQ(inTable, inHelp);

    std::set<char> shortInHelp;
    std::regex shortOption("\n +-([A-Za-z])[ ,]");
    for (auto it = std::sregex_iterator(help.begin(), help.end(), shortOption); it != std::sregex_iterator();
         ++it) {
        shortInHelp.insert((*it)[1].str()[0]);
    }
    std::set<char> shortInTable;
    for (char c : nspawnShortOptions()) {
        if (c != ':') {
            shortInTable.insert(c);
        }
    }
    EXPECT_EQ(shortInTable, shortInHelp);
    // Every short option that has a long one takes a value exactly when it does.
    for (const auto& option : nspawnLongOptions()) {
        if (option.shortName == '\0') {
            continue;
        }
        auto at = nspawnShortOptions().find(option.shortName);
        ASSERT_NE(at, std::string_view::npos) << option.longName;
        bool takesValue = at + 1 < nspawnShortOptions().size() && nspawnShortOptions()[at + 1] == ':';
        EXPECT_EQ(takesValue, option.argument == NspawnArgument::Required) << option.longName;
    }
}

TEST(NspawnOptions, ParsesAsGetoptLongDoes) {
    Words args = {"--quiet", "--bind=/a:/b", "--setenv",   "A=b",   "-M", "web",
                  "-Dx",     "-qU",          "--machin=o", "/init", "-x"};
    auto parsed = parseNspawnArguments(args);
    ASSERT_FALSE(parsed.error) << parsed.error->message;
    EXPECT_EQ(parsed.firstOperand, 9U);  // "+": options end at /init
    ASSERT_EQ(parsed.options.size(), 8U);
    EXPECT_EQ(parsed.options[0].name, "quiet");
    EXPECT_EQ(parsed.options[1].name, "bind");
    EXPECT_EQ(*parsed.options[1].value, "/a:/b");
    EXPECT_EQ(parsed.options[2].name, "setenv");
    EXPECT_EQ(*parsed.options[2].value, "A=b");
    EXPECT_EQ(parsed.options[2].words, 2U);
    EXPECT_EQ(parsed.options[3].name, "machine");
    EXPECT_EQ(*parsed.options[3].value, "web");
    EXPECT_EQ(parsed.options[4].name, "directory");
    EXPECT_EQ(*parsed.options[4].value, "x");
    EXPECT_EQ(parsed.options[5].name, "quiet");
    EXPECT_EQ(parsed.options[6].name, "private-users");  // -U
    EXPECT_EQ(parsed.options[7].name, "machine");
    EXPECT_TRUE(parsed.options[7].abbreviated);

    // An exact name wins over longer ones it prefixes.
    parsed = parseNspawnArguments(Words{"--bind=/x"});
    ASSERT_FALSE(parsed.error);
    EXPECT_EQ(parsed.options[0].name, "bind");
    EXPECT_FALSE(parsed.options[0].abbreviated);

    parsed = parseNspawnArguments(Words{"--net=x"});
    ASSERT_TRUE(parsed.error);
    EXPECT_NE(parsed.error->message.find("is ambiguous"), std::string::npos) << parsed.error->message;
    parsed = parseNspawnArguments(Words{"--nope"});
    ASSERT_TRUE(parsed.error);
    EXPECT_EQ(parsed.error->message, "unknown option '--nope'");
    parsed = parseNspawnArguments(Words{"--quiet=1"});
    ASSERT_TRUE(parsed.error);
    EXPECT_EQ(parsed.error->message, "option '--quiet' doesn't allow an argument");
    parsed = parseNspawnArguments(Words{"--user"});
    ASSERT_TRUE(parsed.error);
    EXPECT_EQ(parsed.error->message, "option '--user' requires an argument");
    parsed = parseNspawnArguments(Words{"-qY"});
    ASSERT_TRUE(parsed.error);
    EXPECT_EQ(parsed.error->message, "invalid option -- 'Y'");
    parsed = parseNspawnArguments(Words{"--volatile", "x"});  // optional: never the next word
    ASSERT_FALSE(parsed.error);
    EXPECT_EQ(parsed.firstOperand, 1U);
    parsed = parseNspawnArguments(Words{"--", "-q"});
    ASSERT_FALSE(parsed.error);
    EXPECT_EQ(parsed.firstOperand, 1U);
    EXPECT_TRUE(parsed.options.empty());
}

// The service's own argv, with every key that adds words set, is one nspawn
// takes: every option known, none abbreviated, the init the only operand.
TEST(NspawnOptions, TheServicesArgvParses) {
    Settings settings;
    settings.nspawn = "/usr/bin/systemd-nspawn";
    ContainerSpec spec;
    spec.systemPath = "/nix/store/abc-system";
    spec.privateNetwork = true;
    spec.network = {"10.233.1.1", "10.233.1.2/24", "fc00::1", "fc00::2/64", ""};
    spec.forwardPorts = {{"tcp", 8080, 80}};
    spec.bindMounts = {{"/mnt", "/host", true}, {"/data", "", false}};
    spec.tmpfs = {"/var", "/tmp:mode=1777"};
    spec.additionalCapabilities = {"CAP_NET_ADMIN"};
    spec.privateUsers = "pick";
    spec.extraFlags = {"--setenv=LANG=C"};
    NspawnInputs inputs;
    inputs.name = "web";
    inputs.spec = &spec;
    inputs.paths = containerPaths(settings, "web", false);
    inputs.systemInContainer = "/nix/store/abc-system";
    inputs.personalityX86 = true;
    inputs.bindNixDb = true;
    inputs.bindNixDaemonSocket = true;
    auto argv = buildNspawnArgv(settings, inputs);
    auto problem = nspawnArgvProblem(argv);
    EXPECT_FALSE(problem) << *problem;

    spec.ephemeral = true;
    argv = buildNspawnArgv(settings, inputs);
    problem = nspawnArgvProblem(argv);
    EXPECT_FALSE(problem) << *problem;

    // What the rule catches: an abbreviation, a word swallowed, a second machine.
    for (const auto& flags : std::vector<Words>{{"--machin=x"}, {"-u"}, {"--machine=x"}, {"--frob"}}) {
        spec.extraFlags = flags;
        EXPECT_TRUE(nspawnArgvProblem(buildNspawnArgv(settings, inputs))) << flags[0];
    }
}

}  // namespace
}  // namespace nixos_containers
