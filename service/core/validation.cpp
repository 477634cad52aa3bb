#include "validation.h"

#include "container_paths.h"
#include "errors.h"
#include "network_plan.h"
#include "spec_keys.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <new>
#include <set>
#include <system_error>
#include <utility>

namespace nixos_containers {

namespace {

std::string shownChar(char c) {
    return quoteValue(std::string_view(&c, 1));
}

bool isAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool isControlOrNonAscii(char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte >= 0x7f;
}

// Characters that cannot be written into NAME.conf as the module's template
// reads it (systemd EnvironmentFile= quoting, then bash word splitting and
// globbing of $EXTRA_NSPAWN_FLAGS), besides whitespace.
bool isConfUnsafe(char c) {
    return c == '"' || c == '\'' || c == '\\' || c == '$' || c == '`' || isControlOrNonAscii(c);
}

bool isGlobChar(char c) {
    return c == '*' || c == '?' || c == '[';
}

// Rejects characters that would not survive NAME.conf (see isConfUnsafe)
// or that the conf format uses as separators (whitespace).
void requireConfSafe(std::string_view what, std::string_view value) {
    for (char c : value) {
        if (isAsciiSpace(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(value) + " contains whitespace");
        }
        if (isConfUnsafe(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(value) + " contains " + shownChar(c));
        }
    }
}

bool hasDotDotComponent(std::string_view path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        auto end = slash == std::string_view::npos ? path.size() : slash;
        if (path.substr(start, end - start) == "..") {
            return true;
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return false;
}

void requireAbsolute(std::string_view what, std::string_view path) {
    if (path.empty() || path.front() != '/') {
        throwInvalid(std::string(what) + " " + quoteValue(path) + " is not an absolute path");
    }
}

// ---- system source ---------------------------------------------------------

}  // namespace

void validateSource(const ContainerSpec& spec, const Settings& settings) {
    const std::array<std::pair<const char*, const std::string*>, 4> sources = {{
        {"SystemPath", &spec.systemPath},
        {"Config", &spec.config},
        {"ConfigFile", &spec.configFile},
        {"Flake", &spec.flake},
    }};
    std::vector<const char*> given;
    for (const auto& [key, value] : sources) {
        if (!value->empty()) {
            given.push_back(key);
        }
    }
    if (given.empty()) {
        throwInvalid("one of SystemPath, Config, ConfigFile or Flake is required");
    }
    if (given.size() > 1) {
        throwInvalid(std::string(given[0]) + " and " + given[1] + " are mutually exclusive");
    }

    if (!spec.systemPath.empty()) {
        requireConfSafe("SystemPath", spec.systemPath);
        requireAbsolute("SystemPath", spec.systemPath);
        // locateSystem throws InvalidArgument itself when outside the store.
        auto location = locateSystem(settings, spec.systemPath);
        std::error_code error;
        if (!std::filesystem::exists(location.onHost / "init", error)) {
            throwInvalid("SystemPath " + quoteValue(spec.systemPath) + " has no init");
        }
    }
    if (!spec.configFile.empty()) {
        requireConfSafe("ConfigFile", spec.configFile);
        requireAbsolute("ConfigFile", spec.configFile);
    }
    if (!spec.flake.empty()) {
        requireConfSafe("Flake", spec.flake);
    }
    // Config is module text kept in its own file (NAME.nix), so any text is
    // representable; Nix itself judges it when building.
}

namespace {

// ---- network ---------------------------------------------------------------

// Parses the decimal prefix length after '/', at most `maxPrefix`.
bool parsePrefix(std::string_view text, unsigned maxPrefix) {
    if (text.empty() || text.size() > 3) {
        return false;
    }
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value <= maxPrefix;
}

void validateAddress(const std::string& what, std::string_view value, bool ipv6) {
    if (value.empty()) {
        return;
    }
    auto slash = value.find('/');
    // inet_pton needs a NUL-terminated copy; an embedded NUL must not
    // truncate the check, so the copy is compared by length below.
    std::string address(value.substr(0, slash));
    if (address.find('\0') != std::string::npos) {
        throwInvalid(what + " " + quoteValue(value) + " is not an " + (ipv6 ? "IPv6" : "IPv4") + " address");
    }
    std::array<unsigned char, 16> buffer{};
    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, address.c_str(), buffer.data()) != 1) {
        throwInvalid(what + " " + quoteValue(value) + " is not an " + (ipv6 ? "IPv6" : "IPv4") + " address");
    }
    if (slash != std::string_view::npos) {
        unsigned maxPrefix = ipv6 ? 128 : 32;
        if (!parsePrefix(value.substr(slash + 1), maxPrefix)) {
            throwInvalid(what + " " + quoteValue(value) + " has a prefix length outside 0-" +
                         std::to_string(maxPrefix));
        }
    }
}

void validateNetworkOptions(const std::string& prefix, const NetworkOptions& options) {
    validateAddress(prefix + "HostAddress", options.hostAddress, false);
    validateAddress(prefix + "LocalAddress", options.localAddress, false);
    validateAddress(prefix + "HostAddress6", options.hostAddress6, true);
    validateAddress(prefix + "LocalAddress6", options.localAddress6, true);
    if (!options.hostBridge.empty()) {
        validateInterfaceName(prefix + "HostBridge", options.hostBridge);
        // The module: "Only one of hostAddress* or hostBridge can be given".
        if (!options.hostAddress.empty()) {
            throwInvalid(prefix + "HostBridge " + quoteValue(options.hostBridge) + " and " + prefix +
                         "HostAddress " + quoteValue(options.hostAddress) + " are mutually exclusive");
        }
        if (!options.hostAddress6.empty()) {
            throwInvalid(prefix + "HostBridge " + quoteValue(options.hostBridge) + " and " + prefix +
                         "HostAddress6 " + quoteValue(options.hostAddress6) + " are mutually exclusive");
        }
    }
}

}  // namespace

void validateNetwork(const ContainerSpec& spec, const Settings& /*settings*/) {
    if (!spec.privateNetwork) {
        // Without a private network the container shares the host's
        // interfaces; none of these has anything to attach to.
        const std::array<std::pair<const char*, bool>, 9> keys = {{
            {"HostAddress", !spec.network.hostAddress.empty()},
            {"LocalAddress", !spec.network.localAddress.empty()},
            {"HostAddress6", !spec.network.hostAddress6.empty()},
            {"LocalAddress6", !spec.network.localAddress6.empty()},
            {"HostBridge", !spec.network.hostBridge.empty()},
            {"ForwardPorts", !spec.forwardPorts.empty()},
            {"ExtraVeths", !spec.extraVeths.empty()},
            {"Interfaces", !spec.interfaces.empty()},
            {"Macvlans", !spec.macvlans.empty()},
        }};
        for (const auto& [key, set] : keys) {
            if (set) {
                throwInvalid(std::string(key) + " requires PrivateNetwork");
            }
        }
    }
    validateNetworkOptions("", spec.network);

    std::set<std::pair<std::string, std::uint16_t>> seenPorts;
    for (const auto& port : spec.forwardPorts) {
        if (port.protocol != "tcp" && port.protocol != "udp") {
            throwInvalid("ForwardPorts protocol " + quoteValue(port.protocol) + " is neither tcp nor udp");
        }
        if (port.hostPort == 0) {
            throwInvalid("ForwardPorts host port 0 is outside 1-65535");
        }
        // containerPort 0 means "the same as hostPort", as in the module.
        if (!seenPorts.emplace(port.protocol, port.hostPort).second) {
            throwInvalid("ForwardPorts forwards " + port.protocol + " host port " +
                         std::to_string(port.hostPort) + " twice");
        }
    }

    for (const auto& [name, options] : spec.extraVeths) {
        validateInterfaceName("ExtraVeths name", name);
        validateNetworkOptions("ExtraVeths." + name + ".", options);
    }
    for (const auto& name : spec.interfaces) {
        validateInterfaceName("Interfaces", name);
    }
    for (const auto& name : spec.macvlans) {
        validateInterfaceName("Macvlans", name);
        // Refused here rather than when the container starts.
        validateInterfaceName("Macvlans " + quoteValue(name) + ": its macvlan", macvlanName(name));
    }
}

namespace {

// ---- file system -----------------------------------------------------------

// Bind mounts are written as --bind[-ro]=HOST:MOUNT words into
// EXTRA_NSPAWN_FLAGS, which the template word-splits and globs.
void validateBindPath(std::string_view what, std::string_view path) {
    requireAbsolute(what, path);
    for (char c : path) {
        if (c == ':' || isAsciiSpace(c) || isConfUnsafe(c) || isGlobChar(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(path) + " contains " + shownChar(c));
        }
    }
    if (hasDotDotComponent(path)) {
        throwInvalid(std::string(what) + " " + quoteValue(path) + " contains '..'");
    }
}

}  // namespace

void validateMounts(const ContainerSpec& spec, const Settings& /*settings*/) {
    for (const auto& bind : spec.bindMounts) {
        validateBindPath("BindMounts mount point", bind.mountPoint);
        if (std::filesystem::path(bind.mountPoint).lexically_normal() == "/") {
            throwInvalid("BindMounts mount point " + quoteValue(bind.mountPoint) +
                         " is the container's root");
        }
        if (!bind.hostPath.empty()) {
            validateBindPath("BindMounts host path", bind.hostPath);
        }
    }
    for (const auto& tmpfs : spec.tmpfs) {
        // nspawn's --tmpfs=PATH[:OPTIONS]; the options are comma separated.
        requireConfSafe("Tmpfs", tmpfs);
        auto path = std::string_view(tmpfs).substr(0, tmpfs.find(':'));
        requireAbsolute("Tmpfs", path);
    }
}

namespace {

// ---- capabilities and devices ----------------------------------------------

// The kernel's capabilities (linux/capability.h, up to CAP_LAST_CAP in 5.9+).
constexpr std::array<std::string_view, 41> kCapabilities = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

}  // namespace

void validateCapabilities(const ContainerSpec& spec, const Settings& /*settings*/) {
    for (const auto& capability : spec.additionalCapabilities) {
        // nspawn's --capability= also takes "all".
        if (capability == "all") {
            continue;
        }
        if (std::find(kCapabilities.begin(), kCapabilities.end(), capability) == kCapabilities.end()) {
            throwInvalid("AdditionalCapabilities " + quoteValue(capability) + " is not a known capability");
        }
    }
}

void validateDevices(const ContainerSpec& spec, const Settings& /*settings*/) {
    for (const auto& device : spec.allowedDevices) {
        // DeviceAllow= is "NODE MODIFIER", and ALLOWED_DEVICES in the conf is
        // space separated NODE:MODIFIER: no whitespace or ':' in the node.
        requireConfSafe("AllowedDevices node", device.node);
        if (!device.node.starts_with("/dev/") || device.node.size() == 5) {
            throwInvalid("AllowedDevices node " + quoteValue(device.node) + " is not a path below /dev/");
        }
        if (device.node.find(':') != std::string::npos) {
            throwInvalid("AllowedDevices node " + quoteValue(device.node) + " contains ':'");
        }
        if (hasDotDotComponent(device.node)) {
            throwInvalid("AllowedDevices node " + quoteValue(device.node) + " contains '..'");
        }
        bool seen[3] = {false, false, false};
        bool valid = !device.modifier.empty() && device.modifier.size() <= 3;
        for (char c : device.modifier) {
            auto index = std::string_view("rwm").find(c);
            if (index == std::string_view::npos || seen[index]) {
                valid = false;
                break;
            }
            seen[index] = true;
        }
        if (!valid) {
            throwInvalid("AllowedDevices modifier " + quoteValue(device.modifier) + " of " +
                         quoteValue(device.node) + " is not a combination of r, w and m");
        }
    }
}

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

// Options whose value the service decides itself; a second one would fight
// with it (or make nspawn fail on a duplicate).
constexpr std::array<std::string_view, 9> kReservedLongOptions = {
    "directory", "machine", "keep-unit", "register", "notify-ready", "kill-signal", "network-namespace-path",
    "image",     "boot",
};
constexpr std::string_view kReservedShortOptions = "DMib";

}  // namespace

void validateExtraFlags(const ContainerSpec& spec, const Settings& /*settings*/) {
    for (const auto& word : spec.extraFlags) {
        if (word.empty() || word.front() != '-') {
            throwInvalid("ExtraFlags word " + quoteValue(word) +
                         " does not start with '-' (each word must be a whole option)");
        }
        if (word.size() == 2 && word[1] != '-') {
            // A short option without a value, e.g. -U.
            if (!isOptionNameChar(word[1])) {
                throwInvalid("ExtraFlags word " + quoteValue(word) + " is not an option");
            }
            if (kReservedShortOptions.find(word[1]) != std::string_view::npos) {
                throwInvalid("ExtraFlags option " + quoteValue(word) + " is set by the service itself");
            }
            continue;
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
        if (std::find(kReservedLongOptions.begin(), kReservedLongOptions.end(), name) !=
            kReservedLongOptions.end()) {
            throwInvalid("ExtraFlags option " + quoteValue(word) + " is set by the service itself");
        }
        // A plain bind in EXTRA_NSPAWN_FLAGS reads back as a BindMount (that
        // is where the module keeps them), so the spec would change under
        // the caller. Binds with mount options (a third ':' field) stay.
        if ((name == "bind" || name == "bind-ro") && equals != std::string_view::npos &&
            std::count(word.begin(), word.end(), ':') < 2) {
            throwInvalid("ExtraFlags option " + quoteValue(word) + " is a bind mount: use BindMounts");
        }
    }
}

void validateTimeout(const ContainerSpec& spec, const Settings& /*settings*/) {
    const auto& timeout = spec.timeoutStartSec;
    try {
        parseTimespanUsec(timeout);
    } catch (const ContainerError& error) {
        throwInvalid(std::string("TimeoutStartSec ") + error.what());
    }
    // systemd would also take tabs or newlines between the parts, but the
    // value is written into NAME.conf: plain spaces only.
    for (char c : timeout) {
        if (c != ' ' && isAsciiSpace(c)) {
            throwInvalid("TimeoutStartSec " + quoteValue(timeout) + " contains " + shownChar(c));
        }
    }
}

void validateName(std::string_view name) {
    if (name.empty()) {
        throwInvalid("name '' is empty");
    }
    if (name.size() > kMaxNameLength) {
        throwInvalid("name " + quoteValue(name) + " is " + std::to_string(name.size()) +
                     " characters long; the limit is " + std::to_string(kMaxNameLength));
    }
    if (name.front() == '-') {
        throwInvalid("name " + quoteValue(name) + " starts with '-'");
    }
    // nixos-container's /^[a-zA-Z0-9_-]+$/, a subset of what machined and
    // unit names allow.
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-';
        if (!ok) {
            throwInvalid("name " + quoteValue(name) + " contains " + shownChar(c));
        }
    }
}

void validateInterfaceName(std::string_view what, std::string_view name) {
    // Linux's dev_valid_name: 1 to IFNAMSIZ-1 bytes, not "." or "..", no '/',
    // ':' or whitespace. Names also go into NAME.conf, whose lists are space
    // and comma separated, so commas, quotes and control bytes are refused too.
    if (name.empty()) {
        throwInvalid(std::string(what) + " '' is empty");
    }
    if (name.size() > kMaxInterfaceName) {
        throwInvalid(std::string(what) + " " + quoteValue(name) + " is " + std::to_string(name.size()) +
                     " bytes long; interface names are at most " + std::to_string(kMaxInterfaceName));
    }
    if (name == "." || name == "..") {
        throwInvalid(std::string(what) + " " + quoteValue(name) + " is not an interface name");
    }
    for (char c : name) {
        if (isAsciiSpace(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(name) + " contains whitespace");
        }
        if (c == '/' || c == ':' || c == ',' || isConfUnsafe(c) || isGlobChar(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(name) + " contains " + shownChar(c));
        }
    }
}

void validateMemoryMax(const ContainerSpec& spec, const Settings& /*settings*/) {
    if (spec.memoryMax.empty()) {
        return;
    }
    try {
        parseMemoryBytes(spec.memoryMax);
    } catch (const ContainerError& error) {
        throwInvalid(std::string("MemoryMax ") + error.what());
    }
}

void validateSpec(const ContainerSpec& spec, const Settings& settings) {
    // Validation runs on every decoded request and is fuzzed: whatever a
    // helper throws leaves here as a ContainerError.
    try {
        std::vector<SpecCheck> done;
        for (const auto& key : specKeys()) {
            if (key.validate != nullptr && std::find(done.begin(), done.end(), key.validate) == done.end()) {
                done.push_back(key.validate);
                key.validate(spec, settings);
            }
        }
    } catch (const ContainerError&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw ContainerError(ErrorCode::Failed, "out of memory while validating the spec");
    } catch (const std::exception& error) {
        throwInvalid(std::string("invalid spec: ") + error.what());
    }
}

}  // namespace nixos_containers
