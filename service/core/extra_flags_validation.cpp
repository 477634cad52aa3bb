// ExtraFlags: each word parsed as nspawn's own getopt_long parses it.
#include "errors.h"
#include "nspawn_options.h"
#include "validation.h"
#include "validation_text.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace nixos_containers {

using namespace validation_text;  // NOLINT(google-build-using-namespace): the shared text rules

namespace {

// ---- extra flags -----------------------------------------------------------

bool isFlagValueChar(char c) {
    // A word of $EXTRA_NSPAWN_FLAGS is split on whitespace and globbed by
    // the template, and must stay one argv word: letters, digits and
    // punctuation that means nothing to either.
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_./:,@%+=-~^").find(c) != std::string_view::npos;
}

bool isOptionNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Options the service decides itself, or that a spec key stands for, and
// why a caller cannot give them (by their long name; a short option counts
// as its long one).
struct ReservedOption {
    std::string_view name;
    std::string_view why;
};
constexpr std::string_view kSetByService = "is set by the service itself";
constexpr std::string_view kNetworkKeys =
    "would give the container a network the service does not know: the service prepares it "
    "(PrivateNetwork, HostAddress, HostBridge, ExtraVeths, Interfaces, Macvlans)";
constexpr auto kReservedOptions = std::to_array<ReservedOption>({
    {"directory", kSetByService},
    {"template", kSetByService},
    {"image", kSetByService},
    {"oci-bundle", kSetByService},
    {"machine", kSetByService},
    {"boot", kSetByService},
    {"as-pid2", "would not run the system's init as PID 1, which the service starts and waits for"},
    {"keep-unit", kSetByService},
    {"register", kSetByService},
    {"notify-ready", kSetByService},
    {"kill-signal", kSetByService},
    {"network-namespace-path", kSetByService},
    {"link-journal", kSetByService},
    {"slice", "is the service's unit's to decide (nspawn runs with --keep-unit)"},
    {"property", "is the service's unit's to decide (nspawn runs with --keep-unit)"},
    {"help", "makes systemd-nspawn print and exit instead of starting the container"},
    {"version", "makes systemd-nspawn print and exit instead of starting the container"},
    {"ephemeral", "is the Ephemeral key: use Ephemeral"},
    {"private-network", "is the PrivateNetwork key: use PrivateNetwork"},
    {"port", "is the ForwardPorts key: use ForwardPorts"},
    {"network-interface", "is the Interfaces key: use Interfaces"},
    {"network-macvlan", "is the Macvlans key: use Macvlans"},
    {"network-veth-extra", "is the ExtraVeths key: use ExtraVeths"},
    {"network-bridge", "is the HostBridge key: use HostBridge"},
    {"network-veth", kNetworkKeys},
    {"network-ipvlan", kNetworkKeys},
    {"network-zone", kNetworkKeys},
    {"tmpfs", "is the Tmpfs key: use Tmpfs"},
    {"private-users", "is the PrivateUsers key: use PrivateUsers"},
    {"private-users-ownership", "is set by the service with PrivateUsers"},
    {"private-users-chown", "is deprecated in systemd-nspawn: use --private-users-ownership="},
    {"share-system", "is no longer supported by systemd-nspawn"},
});

// What an option gives the container of the host's, judged as the spec key
// that gives the same (so that a polkit rule granting host access by key,
// the `keys` detail, cannot be stepped around through ExtraFlags): the key's
// bus name, "ExtraFlags" for what no key gives, or empty when the option
// keeps the container confined.
using HostJudge = std::string_view (*)(std::string_view value);
constexpr std::string_view kConfined;
constexpr std::string_view kAsExtraFlags = "ExtraFlags";
std::string_view confined(std::string_view /*value*/) {
    return kConfined;
}
std::string_view asCapabilities(std::string_view /*value*/) {
    return "AdditionalCapabilities";
}
// Host paths mounted, or a host file read by nspawn as root: a bind.
std::string_view asBindMounts(std::string_view /*value*/) {
    return "BindMounts";
}
std::string_view asExtraFlags(std::string_view /*value*/) {
    return kAsExtraFlags;
}
// A deny list ("~...") only narrows the container's filter.
std::string_view systemCallFilter(std::string_view value) {
    return value.starts_with('~') ? kConfined : kAsExtraFlags;
}
// A lower score only makes the container's processes likelier OOM victims.
std::string_view oomScoreAdjust(std::string_view value) {
    return value.starts_with('-') ? kAsExtraFlags : kConfined;
}
// bind-* (and auto, which may bind) mounts a host file into the container.
std::string_view resolvConf(std::string_view value) {
    return value.starts_with("bind") || value == "auto" ? kAsExtraFlags : kConfined;
}
std::string_view timezone(std::string_view value) {
    return value == "bind" || value == "auto" ? kAsExtraFlags : kConfined;
}

// The options a caller may give, by long name, with how each is judged.
// Everything else nspawn knows is refused, reserved or not: an option added
// to nspawn later, or one that changes how the service runs and waits for it
// (--settings reads .nspawn files that override the command line, --pipe
// and --console change its stdio, --user and --chdir its init), never
// reaches it unreviewed.
struct AllowedOption {
    std::string_view name;
    HostJudge judge;
};
constexpr auto kAllowedOptions = std::to_array<AllowedOption>({
    {"uuid", confined},
    {"read-only", confined},
    {"capability", asCapabilities},
    {"drop-capability", confined},
    {"no-new-privileges", confined},
    {"bind", asBindMounts},
    {"bind-ro", asBindMounts},
    {"overlay", asBindMounts},
    {"overlay-ro", asBindMounts},
    {"inaccessible", confined},
    {"hostname", confined},
    {"setenv", confined},
    // The host's MAC labels.
    {"selinux-context", asExtraFlags},
    {"selinux-apifs-context", asExtraFlags},
    {"quiet", confined},
    {"personality", confined},
    {"volatile", confined},
    {"system-call-filter", systemCallFilter},
    // Hard limits above the host's defaults.
    {"rlimit", asExtraFlags},
    {"oom-score-adjust", oomScoreAdjust},
    {"cpu-affinity", confined},
    {"resolv-conf", resolvConf},
    {"timezone", timezone},
    {"set-credential", confined},
    {"load-credential", asBindMounts},
    // The host user's home directory, bound in.
    {"bind-user", asBindMounts},
});

const AllowedOption* allowedOption(std::string_view name) {
    const auto* found = std::find_if(kAllowedOptions.begin(), kAllowedOptions.end(),
                                     [name](const AllowedOption& option) { return option.name == name; });
    return found == kAllowedOptions.end() ? nullptr : found;
}

std::string allowedList() {
    std::string list;
    for (const auto& option : kAllowedOptions) {
        list += (list.empty() ? "--" : ", --") + std::string(option.name);
    }
    return list;
}

// What the service passes with --setenv itself (nspawn_command.cpp); a
// caller's value would be overridden.
constexpr auto kServiceEnvironment = std::to_array<std::string_view>({
    "PRIVATE_NETWORK",
    "HOST_BRIDGE",
    "HOST_ADDRESS",
    "HOST_ADDRESS6",
    "LOCAL_ADDRESS",
    "LOCAL_ADDRESS6",
    "HOST_PORT",
    "PATH",
});

std::string optionSpelling(const NspawnParsedOption& option) {
    return option.name.empty() ? "-" + std::string(1, option.shortName) : "--" + std::string(option.name);
}

// A whole option in one word: -X, --name or --name=value, without bytes a
// flag value may not hold.
void checkWordShape(const std::string& word) {
    if (word.empty() || word.front() != '-') {
        throwInvalid("ExtraFlags word " + quoteValue(word) +
                     " does not start with '-' (each word must be a whole option)");
    }
    if (word.size() == 2 && word[1] != '-') {
        // A short option without a value, e.g. -U.
        if (!isOptionNameChar(word[1])) {
            throwInvalid("ExtraFlags word " + quoteValue(word) + " is not an option");
        }
        return;
    }
    if (!word.starts_with("--") || word.size() == 2) {
        throwInvalid("ExtraFlags word " + quoteValue(word) + " is not --option or --option=value");
    }
    auto body = std::string_view(word).substr(2);
    auto equals = body.find('=');
    auto name = body.substr(0, equals);
    if (name.empty() || name.front() == '-' || !std::all_of(name.begin(), name.end(), isOptionNameChar)) {
        throwInvalid("ExtraFlags word " + quoteValue(word) + " is not --option or --option=value");
    }
    if (equals != std::string_view::npos) {
        for (char c : body.substr(equals + 1)) {
            if (!isFlagValueChar(c)) {
                throwInvalid("ExtraFlags word " + quoteValue(word) + " contains " + shownChar(c));
            }
        }
    }
}

// The word as nspawn's getopt_long() reads it, followed by one more word:
// an option that needs a value and has none in its own word takes that
// next word.
NspawnParsedOption nspawnOption(const std::string& word, const std::string& shown) {
    const std::array<std::string, 2> words = {word, "NEXT"};
    auto parsed = parseNspawnArguments(words);
    if (parsed.error) {
        throwInvalid(shown + " is not accepted by systemd-nspawn: " + parsed.error->message);
    }
    if (parsed.options.size() != 1) {
        throwInvalid(shown + " is not one systemd-nspawn option");
    }
    return parsed.options.front();
}

// Not reserved for a key, spelled in full with its value in its own word,
// and one the service passes on.
void checkOptionAllowed(const std::string& word, const std::string& shown, const NspawnParsedOption& option) {
    auto reserved = std::find_if(kReservedOptions.begin(), kReservedOptions.end(),
                                 [&](const ReservedOption& r) { return r.name == option.name; });
    if (reserved != kReservedOptions.end()) {
        std::string which;
        if (option.abbreviated) {
            which = " (it abbreviates " + optionSpelling(option) + ")";
        } else if (word.size() == 2 && !option.name.empty()) {
            which = " (it is " + optionSpelling(option) + ")";
        }
        throwInvalid(shown + " " + std::string(reserved->why) + which);
    }
    if (option.abbreviated) {
        throwInvalid(shown + " abbreviates " + optionSpelling(option) + ": write the option's full name");
    }
    if (option.words != 1) {
        throwInvalid(shown + " needs its value in the same word (" + optionSpelling(option) +
                     "=VALUE): systemd-nspawn would take the next word as its value");
    }
    if (allowedOption(option.name) == nullptr) {
        const std::string which = word.size() == 2 ? " (it is " + optionSpelling(option) + ")" : "";
        throwInvalid(shown + which +
                     " is not one the service passes on to systemd-nspawn; these are: " + allowedList());
    }
}

// Values a key or the service itself owns.
void checkOptionValue(const std::string& shown, const NspawnParsedOption& option) {
    if (option.name == "setenv" && option.value) {
        auto variable = std::string_view(*option.value).substr(0, option.value->find('='));
        if (std::find(kServiceEnvironment.begin(), kServiceEnvironment.end(), variable) !=
            kServiceEnvironment.end()) {
            throwInvalid(shown + " sets " + std::string(variable) +
                         ", which the service sets itself (and would override)");
        }
    }
    // A plain bind in EXTRA_NSPAWN_FLAGS reads back as a BindMount (that is
    // where the module keeps them), so the spec would change under the
    // caller. Binds with mount options (a third ':' field) stay.
    if ((option.name == "bind" || option.name == "bind-ro") && option.value &&
        std::count(option.value->begin(), option.value->end(), ':') < 2) {
        throwInvalid(shown + " is a bind mount: use BindMounts");
    }
}

}  // namespace

void validateExtraFlags(const ContainerSpec& spec, const Settings& /*settings*/) {
    for (const auto& word : spec.extraFlags) {
        const std::string shown = "ExtraFlags option " + quoteValue(word);
        checkWordShape(word);
        const auto option = nspawnOption(word, shown);
        checkOptionAllowed(word, shown, option);
        checkOptionValue(shown, option);
    }
}

std::string_view extraFlagHostKey(const std::string& word) {
    const std::array<std::string, 2> words = {word, "NEXT"};
    auto parsed = parseNspawnArguments(words);
    if (parsed.error || parsed.options.size() != 1) {
        return kAsExtraFlags;  // refused by validation anyway; never confined
    }
    const auto& option = parsed.options.front();
    const auto* allowed = allowedOption(option.name);
    if (allowed == nullptr) {
        return kAsExtraFlags;
    }
    return allowed->judge(option.value ? std::string_view(*option.value) : std::string_view());
}

}  // namespace nixos_containers
