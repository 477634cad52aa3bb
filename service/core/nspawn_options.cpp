#include "nspawn_options.h"

#include <array>

namespace nixos_containers {

namespace {

constexpr auto kNoArgument = NspawnArgument::None;
constexpr auto kRequiredArgument = NspawnArgument::Required;
constexpr auto kOptionalArgument = NspawnArgument::Optional;

// systemd 252's nspawn.c options[], as the installed systemd-nspawn
// (252.39-1~deb12u2) hands it to getopt_long().
constexpr auto kLongOptions = std::to_array<NspawnOption>({
    {"help", kNoArgument, 'h'},
    {"version", kNoArgument, '\0'},
    {"directory", kRequiredArgument, 'D'},
    {"template", kRequiredArgument, '\0'},
    {"ephemeral", kNoArgument, 'x'},
    {"user", kRequiredArgument, 'u'},
    {"private-network", kNoArgument, '\0'},
    {"as-pid2", kNoArgument, 'a'},
    {"boot", kNoArgument, 'b'},
    {"uuid", kRequiredArgument, '\0'},
    {"read-only", kNoArgument, '\0'},
    {"capability", kRequiredArgument, '\0'},
    {"ambient-capability", kRequiredArgument, '\0'},
    {"drop-capability", kRequiredArgument, '\0'},
    {"no-new-privileges", kRequiredArgument, '\0'},
    {"link-journal", kRequiredArgument, '\0'},
    {"bind", kRequiredArgument, '\0'},
    {"bind-ro", kRequiredArgument, '\0'},
    {"tmpfs", kRequiredArgument, '\0'},
    {"overlay", kRequiredArgument, '\0'},
    {"overlay-ro", kRequiredArgument, '\0'},
    {"inaccessible", kRequiredArgument, '\0'},
    {"machine", kRequiredArgument, 'M'},
    {"hostname", kRequiredArgument, '\0'},
    {"slice", kRequiredArgument, 'S'},
    {"setenv", kRequiredArgument, 'E'},
    {"selinux-context", kRequiredArgument, 'Z'},
    {"selinux-apifs-context", kRequiredArgument, 'L'},
    {"quiet", kNoArgument, 'q'},
    {"share-system", kNoArgument, '\0'},
    {"register", kRequiredArgument, '\0'},
    {"keep-unit", kNoArgument, '\0'},
    {"network-interface", kRequiredArgument, '\0'},
    {"network-macvlan", kRequiredArgument, '\0'},
    {"network-ipvlan", kRequiredArgument, '\0'},
    {"network-veth", kNoArgument, 'n'},
    {"network-veth-extra", kRequiredArgument, '\0'},
    {"network-bridge", kRequiredArgument, '\0'},
    {"network-zone", kRequiredArgument, '\0'},
    {"network-namespace-path", kRequiredArgument, '\0'},
    {"personality", kRequiredArgument, '\0'},
    {"image", kRequiredArgument, 'i'},
    {"volatile", kOptionalArgument, '\0'},
    {"port", kRequiredArgument, 'p'},
    {"property", kRequiredArgument, '\0'},
    {"private-users", kOptionalArgument, '\0'},
    {"private-users-chown", kOptionalArgument, '\0'},
    {"private-users-ownership", kRequiredArgument, '\0'},
    {"kill-signal", kRequiredArgument, '\0'},
    {"settings", kRequiredArgument, '\0'},
    {"chdir", kRequiredArgument, '\0'},
    {"pivot-root", kRequiredArgument, '\0'},
    {"notify-ready", kRequiredArgument, '\0'},
    {"root-hash", kRequiredArgument, '\0'},
    {"root-hash-sig", kRequiredArgument, '\0'},
    {"verity-data", kRequiredArgument, '\0'},
    {"system-call-filter", kRequiredArgument, '\0'},
    {"rlimit", kRequiredArgument, '\0'},
    {"oom-score-adjust", kRequiredArgument, '\0'},
    {"cpu-affinity", kRequiredArgument, '\0'},
    {"resolv-conf", kRequiredArgument, '\0'},
    {"timezone", kRequiredArgument, '\0'},
    {"console", kRequiredArgument, '\0'},
    {"pipe", kNoArgument, '\0'},
    {"oci-bundle", kRequiredArgument, '\0'},
    {"no-pager", kNoArgument, '\0'},
    {"set-credential", kRequiredArgument, '\0'},
    {"load-credential", kRequiredArgument, '\0'},
    {"bind-user", kRequiredArgument, '\0'},
    {"suppress-sync", kRequiredArgument, '\0'},
});

constexpr std::string_view kShortOptions = "hD:u:abL:M:jS:Z:qi:xp:nUE:P";

constexpr auto kHidden = std::to_array<std::string_view>({"private-users-chown", "share-system"});

// Short options without a long option of their own, and what they mean.
std::string_view shortOnlyEquivalent(char c) {
    switch (c) {
        case 'U':
            return "private-users";
        case 'j':
            return "link-journal";
        default:
            return {};
    }
}

std::string_view longNameOfShort(char c) {
    for (const auto& option : kLongOptions) {
        if (option.shortName == c) {
            return option.longName;
        }
    }
    return shortOnlyEquivalent(c);
}

void parseLong(std::span<const std::string> args, std::size_t& index, NspawnParseResult& result) {
    const std::string& word = args[index];
    std::string_view body = std::string_view(word).substr(2);
    auto equals = body.find('=');
    std::string_view name = body.substr(0, equals);
    auto fail = [&](std::string message) { result.error = NspawnParseError{index, std::move(message)}; };

    const NspawnOption* found = nullptr;
    bool abbreviated = false;
    std::vector<const NspawnOption*> candidates;
    for (const auto& option : kLongOptions) {
        if (option.longName == name) {
            found = &option;
            break;
        }
        if (!name.empty() && option.longName.starts_with(name)) {
            candidates.push_back(&option);
        }
    }
    if (found == nullptr) {
        if (candidates.empty()) {
            fail("unknown option '--" + std::string(name) + "'");
            return;
        }
        // glibc takes the first of several candidates only when they all mean
        // the same (has_arg, flag, val); nspawn's options all differ.
        if (candidates.size() > 1) {
            std::string list;
            for (const auto* candidate : candidates) {
                list += (list.empty() ? "--" : ", --") + std::string(candidate->longName);
            }
            fail("option '--" + std::string(name) + "' is ambiguous: it abbreviates " + list);
            return;
        }
        found = candidates.front();
        abbreviated = true;
    }
    NspawnParsedOption parsed;
    parsed.name = found->longName;
    parsed.shortName = found->shortName;
    parsed.firstWord = index;
    parsed.abbreviated = abbreviated;
    if (equals != std::string_view::npos) {
        if (found->argument == NspawnArgument::None) {
            fail("option '--" + std::string(found->longName) + "' doesn't allow an argument");
            return;
        }
        parsed.value = std::string(body.substr(equals + 1));
    } else if (found->argument == NspawnArgument::Required) {
        if (index + 1 >= args.size()) {
            fail("option '--" + std::string(found->longName) + "' requires an argument");
            return;
        }
        parsed.value = args[index + 1];
        parsed.words = 2;
        ++index;
    }
    result.options.push_back(std::move(parsed));
    ++index;
}

void parseShort(std::span<const std::string> args, std::size_t& index, NspawnParseResult& result) {
    const std::string& word = args[index];
    const std::size_t first = index;
    for (std::size_t at = 1; at < word.size(); ++at) {
        char c = word[at];
        auto position = c == ':' ? std::string_view::npos : kShortOptions.find(c);
        if (position == std::string_view::npos) {
            result.error = NspawnParseError{first, "invalid option -- '" + std::string(1, c) + "'"};
            return;
        }
        NspawnParsedOption parsed;
        parsed.name = longNameOfShort(c);
        parsed.shortName = c;
        parsed.firstWord = first;
        bool takesValue = position + 1 < kShortOptions.size() && kShortOptions[position + 1] == ':';
        if (takesValue) {
            if (at + 1 < word.size()) {
                parsed.value = word.substr(at + 1);
            } else if (index + 1 < args.size()) {
                parsed.value = args[index + 1];
                parsed.words = 2;
                ++index;
            } else {
                result.error =
                    NspawnParseError{first, "option requires an argument -- '" + std::string(1, c) + "'"};
                return;
            }
            result.options.push_back(std::move(parsed));
            break;
        }
        result.options.push_back(std::move(parsed));
    }
    ++index;
}

}  // namespace

std::span<const NspawnOption> nspawnLongOptions() {
    return kLongOptions;
}

std::string_view nspawnShortOptions() {
    return kShortOptions;
}

std::span<const std::string_view> nspawnHiddenLongOptions() {
    return kHidden;
}

NspawnParseResult parseNspawnArguments(std::span<const std::string> args) {
    NspawnParseResult result;
    std::size_t index = 0;
    while (index < args.size() && !result.error) {
        const std::string& word = args[index];
        if (word == "--") {
            ++index;
            break;
        }
        if (word.size() < 2 || word[0] != '-') {
            break;  // "+": the first non-option ends the options
        }
        if (word[1] == '-') {
            parseLong(args, index, result);
        } else {
            parseShort(args, index, result);
        }
    }
    result.firstOperand = index;
    return result;
}

std::optional<std::string> nspawnArgvProblem(std::span<const std::string> argv) {
    if (argv.empty()) {
        return "the argv is empty";
    }
    auto args = argv.subspan(1);
    auto parsed = parseNspawnArguments(args);
    if (parsed.error) {
        return "word " + std::to_string(parsed.error->word + 1) + " ('" + args[parsed.error->word] +
               "'): " + parsed.error->message;
    }
    if (parsed.firstOperand + 1 != args.size()) {
        if (parsed.firstOperand >= args.size()) {
            return std::string("no command: every word was taken as an option or its value");
        }
        return "the command is '" + args[parsed.firstOperand] + "' (word " +
               std::to_string(parsed.firstOperand + 1) + "), not the last word";
    }
    // Given exactly once (the first five) or at most once (the others).
    constexpr auto kOnce =
        std::to_array<std::string_view>({"machine", "directory", "keep-unit", "notify-ready", "kill-signal",
                                         "network-namespace-path", "link-journal"});
    constexpr std::size_t kRequired = 5;
    std::array<int, kOnce.size()> seen{};
    for (const auto& option : parsed.options) {
        if (option.abbreviated) {
            return "option '" + args[option.firstWord] + "' abbreviates --" + std::string(option.name);
        }
        for (std::size_t i = 0; i < kOnce.size(); ++i) {
            if (option.name == kOnce[i] && ++seen[i] > 1) {
                return "--" + std::string(kOnce[i]) + " is given twice";
            }
        }
    }
    for (std::size_t i = 0; i < kRequired; ++i) {
        if (seen[i] != 1) {
            return "--" + std::string(kOnce[i]) + " is missing (taken as another option's value?)";
        }
    }
    return std::nullopt;
}

}  // namespace nixos_containers
