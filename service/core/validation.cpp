#include "validation.h"

#include "container_paths.h"
#include "errors.h"
#include "nspawn_options.h"
#include "validation_text.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <new>
#include <set>
#include <system_error>
#include <utility>
#include <variant>

namespace nixos_containers {

using namespace validation_text;  // NOLINT(google-build-using-namespace): the shared text rules

namespace {

// ---- system source ---------------------------------------------------------

}  // namespace

void validateSource(const ContainerSpec& spec, const Settings& settings) {
    const auto sources = std::to_array<std::pair<const char*, const std::string*>>({
        {"SystemPath", &spec.systemPath},
        {"Config", &spec.config},
        {"ConfigFile", &spec.configFile},
        {"Flake", &spec.flake},
    });
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
    if (!spec.nixosPath.empty()) {
        requireConfSafe("NixosPath", spec.nixosPath);
        requireAbsolute("NixosPath", spec.nixosPath);
        if (spec.config.empty() && spec.configFile.empty()) {
            throwInvalid(
                "NixosPath is what a Config or ConfigFile is built with; this container has neither");
        }
        std::error_code error;
        if (!std::filesystem::is_directory(spec.nixosPath, error)) {
            throwInvalid("NixosPath " + quoteValue(spec.nixosPath) + " is not a directory");
        }
    }
    if (!spec.configFile.empty()) {
        requireConfSafe("ConfigFile", spec.configFile);
        requireAbsolute("ConfigFile", spec.configFile);
        // Checked here, before any builder runs as root on it.
        std::error_code error;
        auto status = std::filesystem::status(spec.configFile, error);
        if (!std::filesystem::exists(status)) {
            throwInvalid("ConfigFile " + quoteValue(spec.configFile) + " does not exist");
        }
        if (!std::filesystem::is_regular_file(status)) {
            throwInvalid("ConfigFile " + quoteValue(spec.configFile) + " is not a regular file");
        }
        if (::access(spec.configFile.c_str(), R_OK) != 0) {
            throwInvalid("ConfigFile " + quoteValue(spec.configFile) + " is not readable");
        }
    }
    if (!spec.flake.empty()) {
        requireConfSafe("Flake", spec.flake);
    }
    // Config is module text kept in its own file (NAME.nix), so any text is
    // representable; Nix itself judges it when building.
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

// Where the service mounts things itself (nspawn_command.cpp): a mount at,
// above or below one of these would hide it or be hidden by it.
struct ReservedMount {
    std::string_view path;
    std::string_view what;
};
constexpr auto kReservedMounts = std::to_array<ReservedMount>({
    {"/nix/store", "the Nix store"},
    {"/nix/var/nix/db", "the Nix database"},
    {"/nix/var/nix/daemon-socket", "the Nix daemon's socket"},
    {"/nix/var/nix/profiles", "the container's Nix profiles"},
    {"/nix/var/nix/gcroots", "the container's garbage collector roots"},
});

bool isSameOrBelow(const std::string& path, std::string_view base) {
    return path == base || (path.starts_with(base) && path.size() > base.size() && path[base.size()] == '/');
}

// "/a//b/./" -> "/a/b"; "/" stays "/".
std::string normalMountPoint(std::string_view path) {
    auto normal = std::filesystem::path(path).lexically_normal().string();
    while (normal.size() > 1 && normal.back() == '/') {
        normal.pop_back();
    }
    return normal;
}

// One place something is mounted in the container, and the key (and
// value) that asks for it.
struct MountRequest {
    std::string what;  // e.g. "BindMounts mount point '/srv'"
    std::string path;  // normalised
};

// The mount points the caller asks for through ExtraFlags (binds with mount
// options, overlays, inaccessible paths). Words validateExtraFlags refuses
// are left to it.
void addExtraFlagMounts(const ContainerSpec& spec, std::vector<MountRequest>& mounts) {
    for (const auto& word : spec.extraFlags) {
        auto equals = word.find('=');
        if (!word.starts_with("--") || equals == std::string::npos) {
            continue;
        }
        auto option = std::string_view(word).substr(2, equals - 2);
        auto value = std::string_view(word).substr(equals + 1);
        std::string_view destination;
        if (option == "bind" || option == "bind-ro") {
            // SOURCE[:DESTINATION[:OPTIONS]]
            auto first = value.find(':');
            destination = first == std::string_view::npos ? value : value.substr(first + 1);
            destination = destination.substr(0, destination.find(':'));
        } else if (option == "overlay" || option == "overlay-ro") {
            // ...:DESTINATION
            auto last = value.rfind(':');
            destination = last == std::string_view::npos ? value : value.substr(last + 1);
        } else if (option == "inaccessible") {
            destination = value;
        } else {
            continue;
        }
        if (!destination.empty() && destination.front() == '/') {
            mounts.push_back({"ExtraFlags option " + quoteValue(word), normalMountPoint(destination)});
        }
    }
}

}  // namespace

void validateMounts(const ContainerSpec& spec, const Settings& /*settings*/) {
    std::vector<MountRequest> mounts;
    for (const auto& bind : spec.bindMounts) {
        validateBindPath("BindMounts mount point", bind.mountPoint);
        if (!bind.hostPath.empty()) {
            validateBindPath("BindMounts host path", bind.hostPath);
        }
        mounts.push_back(
            {"BindMounts mount point " + quoteValue(bind.mountPoint), normalMountPoint(bind.mountPoint)});
    }
    for (const auto& tmpfs : spec.tmpfs) {
        // nspawn's --tmpfs=PATH[:OPTIONS]; the options are comma separated.
        requireConfSafe("Tmpfs", tmpfs);
        auto path = std::string_view(tmpfs).substr(0, tmpfs.find(':'));
        requireAbsolute("Tmpfs", path);
        if (hasDotDotComponent(path)) {
            throwInvalid("Tmpfs " + quoteValue(tmpfs) + " contains '..'");
        }
        mounts.push_back({"Tmpfs " + quoteValue(tmpfs), normalMountPoint(path)});
    }
    addExtraFlagMounts(spec, mounts);

    std::map<std::string, const MountRequest*> seen;
    for (const auto& mount : mounts) {
        if (mount.path == "/") {
            throwInvalid(mount.what + " is the container's root");
        }
        for (const auto& reserved : kReservedMounts) {
            if (isSameOrBelow(mount.path, reserved.path) ||
                isSameOrBelow(std::string(reserved.path), mount.path)) {
                throwInvalid(mount.what + " overlaps " + std::string(reserved.path) +
                             ", where the service mounts " + std::string(reserved.what));
            }
        }
        auto [previous, fresh] = seen.emplace(mount.path, &mount);
        if (!fresh) {
            throwInvalid(mount.what + " mounts " + mount.path + " again: " + previous->second->what +
                         " mounts it already, and one would hide the other");
        }
    }
}

namespace {

// ---- capabilities and devices ----------------------------------------------

// The kernel's capabilities (linux/capability.h, up to CAP_LAST_CAP in 5.9+).
constexpr auto kCapabilities = std::to_array<std::string_view>({
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
});

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

namespace {

void validateNameShape(std::string_view name, bool allowUnderscore) {
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
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  (allowUnderscore && c == '_');
        if (!ok) {
            if (c == '_') {
                throwInvalid("name " + quoteValue(name) +
                             " contains '_', which systemd-nspawn refuses in a machine name "
                             "(as the NixOS module does in a container name)");
            }
            throwInvalid("name " + quoteValue(name) + " contains " + shownChar(c));
        }
    }
}

}  // namespace

void validateName(std::string_view name) {
    validateNameShape(name, false);
    // systemd's hostname_is_valid(), which nspawn and machined apply to
    // machine names: no label ends with '-'.
    if (name.back() == '-') {
        throwInvalid("name " + quoteValue(name) +
                     " ends with '-', which systemd-nspawn refuses in a machine name");
    }
}

void validateExistingName(std::string_view name) {
    validateNameShape(name, true);
}

bool isMachineName(std::string_view name) {
    try {
        validateName(name);
        return true;
    } catch (const ContainerError&) {
        return false;
    }
}

void validatePrivateUsersValue(const std::string& value) {
    if (value == "no" || value == "identity" || value == "pick") {
        return;
    }
    // A base uid: the module's types.ints.u32, written in decimal.
    std::uint32_t base = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), base);
    if (value.empty() || error != std::errc{} || end != value.data() + value.size() ||
        (value.size() > 1 && value.front() == '0')) {
        throwInvalid("PrivateUsers " + quoteValue(value) +
                     " is neither no, identity, pick nor a base uid (a decimal number)");
    }
    // nspawn maps 65536 uids from the base and refuses a base that is no
    // valid uid itself ((uid_t)-1, and 65535, the 16-bit -1) or whose range
    // would run past the last uid (systemd's userns_shift_range_valid).
    constexpr std::uint32_t kRange = 65536;
    constexpr std::uint32_t kHighestBase = std::numeric_limits<std::uint32_t>::max() - kRange;
    if (base == 65535 || base > kHighestBase) {
        throwInvalid("PrivateUsers " + quoteValue(value) + " is no base uid systemd-nspawn accepts: the " +
                     std::to_string(kRange) + " uids from it must be valid uids, so the base is at most " +
                     std::to_string(kHighestBase) + " and not 65535");
    }
}

void validatePrivateUsers(const ContainerSpec& spec, const Settings& /*settings*/) {
    const auto& value = spec.privateUsers;
    validatePrivateUsersValue(value);
    if (!spec.userNamespaced()) {
        return;
    }
    if (spec.privateNetwork && !spec.forwardPorts.empty()) {
        // Such a container's nspawn runs inside its network namespace
        // (unitNetworkNamespace), where the forwarding rules it would add
        // could not see the host's traffic.
        throwInvalid("PrivateUsers " + quoteValue(value) +
                     " with ForwardPorts is not supported: a user-namespaced container's nspawn runs "
                     "inside its private network, where it cannot forward the host's ports; use "
                     "PrivateUsers \"no\" (host access) or no ForwardPorts");
    }
    if (spec.enableTun) {
        // Its network namespace is the host's user namespace's, and a tun
        // device needs CAP_NET_ADMIN there (TUNSETIFF).
        throwInvalid(
            "PrivateUsers " + quoteValue(value) +
            " with EnableTun is not supported: the container's root has no CAP_NET_ADMIN over "
            "its network namespace, which a tun device needs; use PrivateUsers \"no\" (host access)");
    }
}

}  // namespace nixos_containers
