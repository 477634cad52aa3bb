#include "validation.h"

#include "container_paths.h"
#include "errors.h"
#include "network_plan.h"
#include "nspawn_options.h"
#include "spec_keys.h"
#include "validation_text.h"

#include "unique_fd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
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

// Returns the address bytes (without the prefix), empty for no value.
std::string validateAddress(const std::string& what, std::string_view value, bool ipv6) {
    if (value.empty()) {
        return {};
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
    // Addresses no interface can carry for a veth's end.
    const char* unusable = nullptr;
    if (!ipv6) {
        if (buffer[0] == 0) {
            unusable = "in 0.0.0.0/8 (\"this network\")";
        } else if (buffer[0] == 127) {
            unusable = "a loopback address";
        } else if (buffer[0] >= 224 && buffer[0] <= 239) {
            unusable = "a multicast address";
        } else if (buffer[0] == 255 && buffer[1] == 255 && buffer[2] == 255 && buffer[3] == 255) {
            unusable = "the broadcast address";
        }
    } else {
        const std::array<unsigned char, 16> zero{};
        auto loopback = zero;
        loopback[15] = 1;
        if (std::equal(buffer.begin(), buffer.end(), zero.begin())) {
            unusable = "the unspecified address";
        } else if (std::equal(buffer.begin(), buffer.end(), loopback.begin())) {
            unusable = "the loopback address";
        } else if (buffer[0] == 0xff) {
            unusable = "a multicast address";
        }
    }
    if (unusable != nullptr) {
        throwInvalid(what + " " + quoteValue(value) + " is " + unusable);
    }
    return {reinterpret_cast<const char*>(buffer.data()), ipv6 ? 16U : 4U};
}

// The two ends of one veth cannot share an address: the host's route to
// the container would point at itself.
void requireDistinct(const std::string& prefix, std::string_view hostKey, std::string_view hostValue,
                     const std::string& hostBytes, std::string_view localKey, std::string_view localValue,
                     const std::string& localBytes) {
    if (!hostBytes.empty() && hostBytes == localBytes) {
        throwInvalid(prefix + std::string(hostKey) + " " + quoteValue(hostValue) + " and " + prefix +
                     std::string(localKey) + " " + quoteValue(localValue) +
                     " are the same address: the host and the container each need their own");
    }
}

// Six hex octets separated by ':', the unicast address of one interface
// (the kernel refuses a multicast one on a veth).
void validateMacAddress(const std::string& key, const std::string& mac) {
    const bool shaped = mac.size() == 17 && std::all_of(mac.begin(), mac.end(), [&mac](const char& c) {
                            const auto at = static_cast<std::size_t>(&c - mac.data());
                            return at % 3 == 2 ? c == ':' : std::isxdigit(static_cast<unsigned char>(c)) != 0;
                        });
    if (!shaped) {
        throwInvalid(key + " " + quoteValue(mac) + " is not a MAC address such as 02:00:00:00:00:01");
    }
    if ((std::stoul(mac.substr(0, 2), nullptr, 16) & 1U) != 0) {
        throwInvalid(key + " " + quoteValue(mac) +
                     " is a multicast address; an interface needs a unicast one");
    }
    if (mac == "00:00:00:00:00:00") {
        throwInvalid(key + " " + quoteValue(mac) + " is the zero address");
    }
}

void validateNetworkOptions(const std::string& prefix, const NetworkOptions& options) {
    auto host = validateAddress(prefix + "HostAddress", options.hostAddress, false);
    auto local = validateAddress(prefix + "LocalAddress", options.localAddress, false);
    auto host6 = validateAddress(prefix + "HostAddress6", options.hostAddress6, true);
    auto local6 = validateAddress(prefix + "LocalAddress6", options.localAddress6, true);
    requireDistinct(prefix, "HostAddress", options.hostAddress, host, "LocalAddress", options.localAddress,
                    local);
    requireDistinct(prefix, "HostAddress6", options.hostAddress6, host6, "LocalAddress6",
                    options.localAddress6, local6);
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

// nspawn joins it with setns(CLONE_NEWNET): anything but a network
// namespace (a plain file, a directory, a device, another kind of
// namespace) would be accepted now and fail every Start. Judged without
// opening anything that is not a namespace: opening a device or a FIFO can
// act or block.
void requireNetworkNamespace(const std::string& path) {
    const std::string shown = "NetworkNamespace " + quoteValue(path);
    struct statfs filesystem {};
    if (::statfs(path.c_str(), &filesystem) != 0) {
        throwInvalid(shown + (errno == ENOENT ? " does not exist"
                                              : " cannot be read: " + std::string(std::strerror(errno))));
    }
    if (filesystem.f_type != NSFS_MAGIC) {
        throwInvalid(shown + " is not a namespace (a file such as /run/netns/NAME or /proc/PID/ns/net)");
    }
    UniqueFd namespaceFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (namespaceFd.get() < 0) {
        throwInvalid(shown + " cannot be opened: " + std::string(std::strerror(errno)));
    }
    const int type = ::ioctl(namespaceFd.get(), NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) {
        throwInvalid(shown + " is a namespace, but not a network namespace");
    }
}

}  // namespace

void validateNetwork(const ContainerSpec& spec, const Settings& /*settings*/) {
    if (!spec.privateNetwork) {
        // Without a private network the container shares the host's
        // interfaces; none of these has anything to attach to.
        const std::array<std::pair<const char*, bool>, 10> keys = {{
            {"HostAddress", !spec.network.hostAddress.empty()},
            {"LocalAddress", !spec.network.localAddress.empty()},
            {"HostAddress6", !spec.network.hostAddress6.empty()},
            {"LocalAddress6", !spec.network.localAddress6.empty()},
            {"HostBridge", !spec.network.hostBridge.empty()},
            {"ForwardPorts", !spec.forwardPorts.empty()},
            {"ExtraVeths", !spec.extraVeths.empty()},
            {"Interfaces", !spec.interfaces.empty()},
            {"Macvlans", !spec.macvlans.empty()},
            {"LocalMacAddress", !spec.localMacAddress.empty()},
        }};
        for (const auto& [key, set] : keys) {
            if (set) {
                throwInvalid(std::string(key) + " requires PrivateNetwork");
            }
        }
    }
    validateNetworkOptions("", spec.network);
    if (!spec.localMacAddress.empty()) {
        validateMacAddress("LocalMacAddress", spec.localMacAddress);
    }
    if (!spec.networkNamespace.empty()) {
        requireConfSafe("NetworkNamespace", spec.networkNamespace);
        requireAbsolute("NetworkNamespace", spec.networkNamespace);
        if (spec.privateNetwork) {
            throwInvalid(
                "NetworkNamespace and PrivateNetwork are mutually exclusive: the container joins "
                "one namespace");
        }
        requireNetworkNamespace(spec.networkNamespace);
    }

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

// Where the service mounts things itself (nspawn_command.cpp): a mount at,
// above or below one of these would hide it or be hidden by it.
struct ReservedMount {
    std::string_view path;
    std::string_view what;
};
constexpr std::array<ReservedMount, 5> kReservedMounts = {{
    {"/nix/store", "the Nix store"},
    {"/nix/var/nix/db", "the Nix database"},
    {"/nix/var/nix/daemon-socket", "the Nix daemon's socket"},
    {"/nix/var/nix/profiles", "the container's Nix profiles"},
    {"/nix/var/nix/gcroots", "the container's garbage collector roots"},
}};

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

namespace {

// Every string and list of one key's value within the key's limits.
class SizeCheck {
public:
    explicit SizeCheck(const SpecKey& key) : key_(key) {}

    void operator()(const std::string& text) const { check(text); }
    void operator()(bool /*flag*/) const {}
    void operator()(const std::vector<std::string>& words) const {
        entries(words.size());
        for (const auto& word : words) {
            check(word);
        }
    }
    void operator()(const std::vector<PortForward>& ports) const {
        entries(ports.size());
        for (const auto& port : ports) {
            check(port.protocol);
        }
    }
    void operator()(const std::vector<BindMount>& binds) const {
        entries(binds.size());
        for (const auto& bind : binds) {
            check(bind.mountPoint);
            check(bind.hostPath);
        }
    }
    void operator()(const std::vector<AllowedDevice>& devices) const {
        entries(devices.size());
        for (const auto& device : devices) {
            check(device.node);
            check(device.modifier);
        }
    }
    void operator()(const std::map<std::string, NetworkOptions>& veths) const {
        entries(veths.size());
        for (const auto& [name, options] : veths) {
            check(name);
            for (const auto& field : networkOptionFields()) {
                check(options.*field.member);
            }
        }
    }

private:
    void check(const std::string& text) const {
        if (text.size() > key_.maxBytes) {
            throw ContainerError(ErrorCode::LimitsExceeded, std::string(key_.busName) + " has a value of " +
                                                                std::to_string(text.size()) +
                                                                " bytes; the limit is " +
                                                                std::to_string(key_.maxBytes));
        }
    }
    void entries(std::size_t count) const {
        if (count > kMaxSpecListEntries) {
            throw ContainerError(ErrorCode::LimitsExceeded,
                                 std::string(key_.busName) + " has " + std::to_string(count) +
                                     " entries; the limit is " + std::to_string(kMaxSpecListEntries));
        }
    }
    const SpecKey& key_;
};

}  // namespace

void validateSpec(const ContainerSpec& spec, const Settings& settings) {
    // Validation runs on every decoded request and is fuzzed: whatever a
    // helper throws leaves here as a ContainerError.
    try {
        // Sizes first: no check below reads an unbounded value.
        for (const auto& key : specKeys()) {
            std::visit(SizeCheck(key), key.get(spec));
        }
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
