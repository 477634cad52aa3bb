#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers {

// systemd-nspawn's command line as its own parser reads it: the option
// table of systemd 252 (Debian 12's), taken from the installed binary's
// getopt_long() call (scripts/nspawn-options.sh prints it), and a parser
// that follows glibc's getopt_long() with nspawn's "+" (stop at the first
// word that is not an option). tests/unit/nspawn_options_test.cpp checks the
// table against the installed `systemd-nspawn --help`, so drift shows.

enum class NspawnArgument { None, Required, Optional };

struct NspawnOption {
    std::string_view longName;  // empty for a short option that has no long one (-U, -j)
    NspawnArgument argument;
    char shortName;  // '\0' when there is none
};

// Every long option of nspawn, in its table's order.
std::span<const NspawnOption> nspawnLongOptions();
// nspawn's getopt short option string (without the leading '+').
std::string_view nspawnShortOptions();
// Long options the table has but --help does not show (deprecated ones).
std::span<const std::string_view> nspawnHiddenLongOptions();

// One option as getopt_long() takes it.
struct NspawnParsedOption {
    // The long name, or for a short option without one its equivalent's
    // ("-U" is "private-users", "-j" is "link-journal").
    std::string_view name;
    char shortName = '\0';
    std::optional<std::string> value;
    std::size_t firstWord = 0;  // index of the word it starts in
    std::size_t words = 1;      // 2 when it took the next word as its value
    bool abbreviated = false;   // a long option written as a unique prefix
};

struct NspawnParseError {
    std::size_t word;     // index of the offending word
    std::string message;  // e.g. "unknown option '--foo'"
};

struct NspawnParseResult {
    std::vector<NspawnParsedOption> options;
    std::size_t firstOperand = 0;  // index of the first non-option word (the command), or args.size()
    std::optional<NspawnParseError> error;
};

// Parses args (argv without argv[0]) as nspawn's getopt_long() would. Stops
// at the first error, the first non-option word, or after "--".
NspawnParseResult parseNspawnArguments(std::span<const std::string> args);

// What is wrong with a whole nspawn argv (argv[0] is the binary), as the
// service builds it: nothing (nullopt) when nspawn's parser takes every
// option, none abbreviated, the only operand is the last word (the init),
// and none of the options the service sets once (the machine name, the
// directory, --keep-unit, --notify-ready, --kill-signal, the network
// namespace, --link-journal) is given twice, or (the first five) missing.
std::optional<std::string> nspawnArgvProblem(std::span<const std::string> argv);

}  // namespace nixos_containers
