#include "nix_flags.h"

#include "errors.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace nixos_containers {

namespace {

struct NixFlag {
    std::string_view name;
    int values;       // argv words that follow it
    bool flakesOnly;  // a flag of the new CLI (nix build), which nix-env refuses
};

// nixos-container's pass-through flags.
constexpr auto kNixFlags = std::to_array<NixFlag>({
    {"--option", 2, false},
    {"--log-format", 1, false},
    {"--show-trace", 0, false},
    {"--impure", 0, true},
    {"--update-input", 1, true},
    {"--override-input", 2, true},
    {"--commit-lock-file", 0, true},
    {"--no-registries", 0, true},
    {"--no-update-lock-file", 0, true},
    {"--no-write-lock-file", 0, true},
    {"--no-allow-dirty", 0, true},
    {"--recreate-lock-file", 0, true},
});

}  // namespace

void validateNixFlags(const ContainerSpec& spec, const Settings& /*settings*/) {
    const auto& words = spec.nixFlags;
    if (!words.empty() && !spec.needsBuild()) {
        throwInvalid(
            "NixFlags are passed to a build from Config, ConfigFile or Flake; this container has none");
    }
    for (std::size_t at = 0; at < words.size(); ++at) {
        const auto& word = words[at];
        auto flag = std::find_if(kNixFlags.begin(), kNixFlags.end(),
                                 [&word](const NixFlag& known) { return known.name == word; });
        if (flag == kNixFlags.end()) {
            throwInvalid("NixFlags " + quoteValue(word) +
                         " is not one of nixos-container's pass-through flags (--option, --log-format, "
                         "--show-trace, --impure, --update-input, --override-input, --commit-lock-file, "
                         "--no-registries, --no-update-lock-file, --no-write-lock-file, --no-allow-dirty, "
                         "--recreate-lock-file)");
        }
        if (flag->flakesOnly && spec.flake.empty()) {
            throwInvalid("NixFlags " + quoteValue(word) + " is a flag of `nix build`: only a Flake takes it");
        }
        const auto needed = static_cast<std::size_t>(flag->values);
        if (needed > 0 && at + needed >= words.size()) {
            throwInvalid("NixFlags " + quoteValue(word) + " needs " + std::to_string(flag->values) +
                         (flag->values == 1 ? " value" : " values"));
        }
        for (int value = 1; value <= flag->values; ++value) {
            const auto& given = words[at + static_cast<std::size_t>(value)];
            if (given.empty() || given.front() == '-') {
                throwInvalid("NixFlags " + quoteValue(word) + " is followed by " + quoteValue(given) +
                             " where it needs a value");
            }
        }
        at += needed;
    }
}

}  // namespace nixos_containers
