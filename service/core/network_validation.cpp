// The network keys' validator: addresses, MACs, ports, the namespace to
// join and the extra interfaces, which are judged together (PrivateNetwork
// decides whether any of them may be set).
#include "validation.h"

#include "errors.h"
#include "network_plan.h"
#include "unique_fd.h"
#include "validation_text.h"

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
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <utility>

namespace nixos_containers {

using namespace validation_text;  // NOLINT(google-build-using-namespace): the shared text rules

namespace {

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
        const auto keys = std::to_array<std::pair<const char*, bool>>({
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
        });
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

}  // namespace nixos_containers
