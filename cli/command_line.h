#pragma once

// The CLI's command line, declared once: each verb and each flag is a row,
// and --help, the man page, the bash completion and the parser are all
// derived from the rows.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers::cli {

struct Options {
    std::optional<std::string> systemPath, config, configFile, flake, nixosPath, bridge, port, hostAddress,
        localAddress, host, lines;
    bool ensureUniqueName = false;
    bool autoStart = false;
    bool json = false;
    bool follow = false;
    bool askPassword = true;
    bool help = false;
    std::vector<std::string> nixFlags;  // Nix pass-through flags, as given
    std::vector<std::string> words;     // the verb and its operands
};

// What a flag does: set its value, set a switch (on, or off), go to Nix
// (the old tool's pass-through flags), or nothing (accepted for scripts).
enum class FlagKind { Value, On, Off, NixPassThrough, Ignored };

struct FlagRow {
    std::string_view name;     // without the leading --
    char shortName;            // 0: none
    std::string_view metavar;  // one word a value; empty: no value
    std::string_view verbs;    // the verbs it is for, space-separated; empty: every verb
    std::string_view help;
    FlagKind kind;
    std::optional<std::string> Options::*value = nullptr;  // Value
    bool Options::*toggle = nullptr;                       // On, Off
    [[nodiscard]] int values() const;                      // words of metavar
    [[nodiscard]] bool isFor(std::string_view verb) const;
};

class BusClient;
// What a verb does; the exit status is the result.
using VerbHandler = int (*)(BusClient& bus, const Options& options);

struct VerbRow {
    std::string_view name;
    std::string_view synopsis;  // after the verb
    std::string_view help;
    VerbHandler handler;
    std::string_view exits = {};  // how its exit status differs from the common classes
};

const std::vector<FlagRow>& flagTable();
// The verbs, each beside its handler (verbs.cpp).
const std::vector<VerbRow>& verbTable();

// Parses argv as the old tool did (flags anywhere, GNU style; "--" ends
// them). Throws CliError (usage) on a bad flag.
Options parseCommandLine(int argc, char** argv);

std::string helpText();
// `VERB --help`: its usage line, what it does, and the flags it takes.
std::string verbHelpText(const VerbRow& verb);
const VerbRow* findVerb(std::string_view name);
std::string manPage();
// The words bash completes after `nixos-container`: verbs, flags, or
// (values) each flag that takes values with their metavars, one a line.
std::string completionWords(std::string_view what);

}  // namespace nixos_containers::cli
