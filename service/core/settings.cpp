#include "settings.h"

#include "address_pool.h"
#include "errors.h"
#include "unit_limits.h"

#include <unistd.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string_view>

namespace nixos_containers {

namespace {

// A key's name as an environment variable's: TasksMax is TASKS_MAX,
// CPUQuota CPU_QUOTA, IOWeight IO_WEIGHT.
std::string environmentName(std::string_view key) {
    std::string name;
    for (std::size_t i = 0; i < key.size(); ++i) {
        const auto isUpper = [](char c) { return c >= 'A' && c <= 'Z'; };
        const auto isLower = [](char c) { return c >= 'a' && c <= 'z'; };
        const char c = key[i];
        if (i > 0 && isUpper(c) &&
            (isLower(key[i - 1]) || (i + 1 < key.size() && isLower(key[i + 1]) && isUpper(key[i - 1])))) {
            name += '_';
        }
        name += static_cast<char>(isLower(c) ? c - 'a' + 'A' : c);
    }
    return name;
}

// What Nix reads from its environment (its configuration, search path, store,
// home and cache), and PATH: the builds the service runs get these.
constexpr auto kBuilderVariables =
    std::to_array<std::string_view>({"PATH", "HOME", "XDG_CACHE_HOME", "NIX_CONF_DIR", "NIX_CONFIG",
                                     "NIX_PATH", "NIX_REMOTE", "NIX_SSL_CERT_FILE"});

std::filesystem::path absolutePath(const std::string& variable, const std::string& value) {
    if (value.empty() || value.front() != '/') {
        throw std::invalid_argument(variable + " must be an absolute path, got '" + value + "'");
    }
    return std::filesystem::path(value).lexically_normal();
}

// The pools, checked now: a bad one stops the service at its start, not at
// the first Create.
void readAddressPools(const std::map<std::string, std::string>& environment, Settings& settings) {
    for (auto [variable, target] : {std::pair{"NIXOS_CONTAINERS_IPV4_POOL", &settings.ipv4Pool},
                                    std::pair{"NIXOS_CONTAINERS_IPV6_POOL", &settings.ipv6Pool}}) {
        if (auto found = environment.find(variable); found != environment.end()) {
            *target = found->second;
        }
    }
    try {
        (void)AddressPool(settings.ipv4Pool, {});
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string("NIXOS_CONTAINERS_IPV4_POOL: ") + error.what());
    }
    try {
        (void)AddressPool(kDefaultIpv4Pool, settings.ipv6Pool);
    } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(std::string("NIXOS_CONTAINERS_IPV6_POOL: ") + error.what());
    }
}

// The host's own ULA pool for containers, or none when the host has no IPv6
// (an address the kernel refuses would fail every start) or no machine id.
std::string defaultIpv6Pool() {
    if (!std::filesystem::exists("/proc/net/if_inet6")) {
        return {};
    }
    std::string machineId;
    std::ifstream("/etc/machine-id") >> machineId;
    const bool valid = machineId.size() == 32 && std::all_of(machineId.begin(), machineId.end(), [](char c) {
                           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                       });
    return valid ? ulaPoolFromMachineId(machineId) : std::string();
}

// The directories and programs, each an absolute path, and the nixos
// directory builds use.
void readPaths(const std::map<std::string, std::string>& environment, Settings& settings) {
    const std::map<std::string, std::filesystem::path*> paths = {
        {"NIXOS_CONTAINERS_CONFIG_DIR", &settings.configDir},
        {"NIXOS_CONTAINERS_STATE_DIR", &settings.stateDir},
        {"NIXOS_CONTAINERS_RUNTIME_DIR", &settings.runtimeDir},
        {"NIXOS_CONTAINERS_PROFILES_DIR", &settings.profilesDir},
        {"NIXOS_CONTAINERS_GCROOTS_DIR", &settings.gcrootsDir},
        {"NIXOS_CONTAINERS_STORE_DIR", &settings.storeDir},
        {"NIXOS_CONTAINERS_NIX_STATE_DIR", &settings.nixStateDir},
        {"NIXOS_CONTAINERS_NSPAWN", &settings.nspawn},
        {"NIXOS_CONTAINERS_NIX_BIN_DIR", &settings.nixBinDir},
        {"NIXOS_CONTAINERS_RESOLV_CONF", &settings.resolvConf},
    };
    for (const auto& [variable, target] : paths) {
        if (auto found = environment.find(variable); found != environment.end()) {
            *target = absolutePath(variable, found->second);
        }
    }
    if (auto found = environment.find("NIXOS_CONTAINERS_NIXOS_PATH"); found != environment.end()) {
        // A search path entry (<nixpkgs/nixos>) or an absolute directory.
        const auto& value = found->second;
        const bool searchPath = value.size() > 2 && value.front() == '<' && value.back() == '>';
        settings.nixosPath = searchPath ? value : absolutePath("NIXOS_CONTAINERS_NIXOS_PATH", value).string();
    }
}

// What the builds' environment passes on from the service's.
void readBuilderEnvironment(const std::map<std::string, std::string>& environment, Settings& settings) {
    for (auto variable : kBuilderVariables) {
        if (auto found = environment.find(std::string(variable)); found != environment.end()) {
            settings.builderEnvironment.push_back(found->first + "=" + found->second);
        }
    }
}

// Colon-separated lists of absolute paths.
void readPathLists(const std::map<std::string, std::string>& environment, Settings& settings) {
    const std::map<std::string, std::vector<std::filesystem::path>*> pathLists = {
        {"NIXOS_CONTAINERS_DECLARATIVE_UNIT_DIRS", &settings.declarativeUnitDirs},
        {"NIXOS_CONTAINERS_CONFINED_BIND_ROOTS", &settings.confinedBindRoots},
    };
    for (const auto& [variable, target] : pathLists) {
        auto found = environment.find(variable);
        if (found == environment.end()) {
            continue;
        }
        target->clear();
        std::string_view rest = found->second;
        while (!rest.empty()) {
            auto colon = rest.find(':');
            auto item = std::string(rest.substr(0, colon));
            if (!item.empty()) {
                target->push_back(absolutePath(variable, item));
            }
            rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        }
    }
}

// The caps: positive integers (the per-user one may be 0, no cap).
void readCounts(const std::map<std::string, std::string>& environment, Settings& settings) {
    struct Count {
        std::size_t* target;
        bool zeroAllowed;  // 0 meaning "no limit"
    };
    const std::map<std::string, Count> counts = {
        {"NIXOS_CONTAINERS_MAX_OPERATIONS", {&settings.maxOperations, false}},
        {"NIXOS_CONTAINERS_MAX_RUNS", {&settings.maxRuns, false}},
        {"NIXOS_CONTAINERS_MAX_RUNS_PER_USER", {&settings.maxRunsPerUser, false}},
        {"NIXOS_CONTAINERS_MAX_PER_USER", {&settings.maxContainersPerUser, true}},
        {"NIXOS_CONTAINERS_RELOAD_TIMEOUT_SEC", {&settings.reloadTimeoutSec, false}},
    };
    for (const auto& [variable, count] : counts) {
        auto found = environment.find(variable);
        if (found == environment.end()) {
            continue;
        }
        const auto& text = found->second;
        std::size_t value = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc{} || end != text.data() + text.size() || (value == 0 && !count.zeroAllowed)) {
            throw std::invalid_argument(variable + " must be a " +
                                        (count.zeroAllowed ? "non-negative" : "positive") +
                                        " integer, got '" + text + "'");
        }
        *count.target = value;
    }
}

// The limits a tenant's container may not exceed, as the unit limit keys
// spell them; empty lifts one.
void readTenantLimits(const std::map<std::string, std::string>& environment, Settings& settings) {
    for (const auto& key : unitLimitKeys()) {
        const auto variable = "NIXOS_CONTAINERS_TENANT_" + environmentName(key.key);
        auto found = environment.find(variable);
        if (found == environment.end()) {
            continue;
        }
        if (found->second.empty()) {
            settings.tenantLimits.erase(std::string(key.key));
            continue;
        }
        try {
            key.value(found->second);
        } catch (const ContainerError& error) {
            throw std::invalid_argument(variable + ": " + error.what() + " (" + std::string(key.syntax) +
                                        ")");
        }
        settings.tenantLimits[std::string(key.key)] = found->second;
    }
}

}  // namespace

Settings Settings::fromEnvironment(const std::map<std::string, std::string>& environment) {
    Settings settings;
    readPaths(environment, settings);
    readBuilderEnvironment(environment, settings);
    readPathLists(environment, settings);
    readCounts(environment, settings);
    readTenantLimits(environment, settings);
    readAddressPools(environment, settings);
    return settings;
}

Settings Settings::fromProcessEnvironment() {
    std::map<std::string, std::string> environment;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        std::string_view text(*entry);
        auto equals = text.find('=');
        if (equals == std::string_view::npos) {
            continue;
        }
        auto name = text.substr(0, equals);
        if (name.starts_with("NIXOS_CONTAINERS_") ||
            std::find(kBuilderVariables.begin(), kBuilderVariables.end(), name) != kBuilderVariables.end()) {
            environment.emplace(name, text.substr(equals + 1));
        }
    }
    if (!environment.contains("NIXOS_CONTAINERS_IPV6_POOL")) {
        environment.emplace("NIXOS_CONTAINERS_IPV6_POOL", defaultIpv6Pool());
    }
    return fromEnvironment(environment);
}

}  // namespace nixos_containers
