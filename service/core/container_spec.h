#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nixos_containers {

// The module's networkOptions: used for the main veth and each extra veth.
struct NetworkOptions {
    std::string hostAddress;    // IPv4, optionally with /prefix
    std::string localAddress;   // IPv4, optionally with /prefix
    std::string hostAddress6;   // IPv6, optionally with /prefix
    std::string localAddress6;  // IPv6, optionally with /prefix
    std::string hostBridge;     // enslave the host end to this bridge instead

    [[nodiscard]] bool hasAddress() const {
        return !hostAddress.empty() || !localAddress.empty() || !hostAddress6.empty() ||
               !localAddress6.empty();
    }
    bool operator==(const NetworkOptions&) const = default;
};

struct PortForward {
    std::string protocol = "tcp";  // tcp or udp
    std::uint16_t hostPort = 0;
    std::uint16_t containerPort = 0;  // 0: the same as hostPort
    bool operator==(const PortForward&) const = default;

    // The port inside the container; the one place that reads a 0 as the
    // host port, as the module's mkPortStr does.
    [[nodiscard]] std::uint16_t effectiveContainerPort() const {
        return containerPort == 0 ? hostPort : containerPort;
    }
};

struct BindMount {
    std::string mountPoint;  // inside the container
    std::string hostPath;    // empty: the same path as mountPoint
    bool readOnly = true;
    bool operator==(const BindMount&) const = default;

    // The host side of the mount; the one place that reads an empty host
    // path as the mount point's own path.
    [[nodiscard]] const std::string& effectiveHostPath() const {
        return hostPath.empty() ? mountPoint : hostPath;
    }
};

struct AllowedDevice {
    std::string node;      // e.g. /dev/net/tun
    std::string modifier;  // combination of r, w, m
    bool operator==(const AllowedDevice&) const = default;
};

// Everything a caller can set on a container: the module's per-container
// options. Defaults are the module's.
struct ContainerSpec {
    // Exactly one source of the system: an evaluated system (systemPath),
    // module text (config), a module file (configFile) or a flake.
    std::string systemPath;
    std::string config;
    std::string configFile;
    std::string flake;
    // Nix's own flags for the build (nixos-container's pass-through flags:
    // --option NAME VALUE, --impure, --override-input INPUT URI...), each
    // an argv word, checked against nix_flags.cpp's table.
    std::vector<std::string> nixFlags;
    // The nixos directory to evaluate a Config or ConfigFile with, as
    // nixos-container's --nixos-path; empty: Settings::nixosPath.
    std::string nixosPath;

    bool privateNetwork = false;
    // The module's localMacAddress: the MAC of the container's eth0.
    std::string localMacAddress;
    // The module's networkNamespace: a network namespace (a file such as
    // /run/netns/NAME) the container joins instead of the host's.
    std::string networkNamespace;
    // The module's copyResolvConf: the host's resolv.conf is copied into the
    // root at each start (the service's behaviour before the key existed).
    bool copyResolvConf = true;
    NetworkOptions network;
    std::vector<PortForward> forwardPorts;
    std::vector<BindMount> bindMounts;
    std::vector<std::string> tmpfs;
    std::vector<std::string> additionalCapabilities;
    std::vector<AllowedDevice> allowedDevices;
    bool enableTun = false;
    bool ephemeral = false;
    bool autoStart = false;
    std::string timeoutStartSec = "1min";
    // The unit's cgroup limits (unit_limits.h), in systemd's syntax; empty:
    // systemd's default.
    std::string memoryMax;
    std::string memoryHigh;
    std::string cpuWeight;
    std::string cpuQuota;
    std::string tasksMax;
    std::string ioWeight;
    // The module's privateUsers: "no", "identity", "pick" or a base uid.
    // Empty only in a Create that leaves it out: the service then chooses
    // by caller (ContainerManager::create).
    std::string privateUsers = "no";
    [[nodiscard]] bool userNamespaced() const { return privateUsers != "no"; }
    std::map<std::string, NetworkOptions> extraVeths;
    std::vector<std::string> interfaces;
    std::vector<std::string> macvlans;
    std::vector<std::string> extraFlags;

    bool operator==(const ContainerSpec&) const = default;

    // True when the system comes from a build (config, configFile, flake).
    [[nodiscard]] bool needsBuild() const { return !config.empty() || !configFile.empty() || !flake.empty(); }
    // The module's enableTun: adds /dev/net/tun rw and CAP_NET_ADMIN.
    [[nodiscard]] std::vector<AllowedDevice> effectiveAllowedDevices() const;
    [[nodiscard]] std::vector<std::string> effectiveCapabilities() const;
};

// What a change to a running container requires, in increasing order.
enum class UpdateEffect {
    None,     // nothing the running container sees changed
    Live,     // a unit limit: set on the running unit (SetUnitProperties)
    Reload,   // only the system changed: switch-to-configuration test
    Restart,  // nspawn's command line or the unit changed
};
// From the spec keys' rows (spec_keys.h): the most any changed key asks for.
UpdateEffect classifyUpdate(const ContainerSpec& before, const ContainerSpec& after);
// True when a system source key changed, so the builder must run again.
bool sourceChanged(const ContainerSpec& before, const ContainerSpec& after);

}  // namespace nixos_containers
