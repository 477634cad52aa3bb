#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace nixos_containers {

// Where the service keeps and finds things. Every path is a setting so the
// sandbox and the tests run the real programs on private directories.
struct Settings {
    std::filesystem::path configDir = "/etc/nixos-containers";
    std::filesystem::path stateDir = "/var/lib/nixos-containers";  // root = stateDir/NAME
    std::filesystem::path runtimeDir = "/run/nixos-containers";    // ephemeral roots, netns pins
    std::filesystem::path profilesDir = "/nix/var/nix/profiles/per-container";
    std::filesystem::path gcrootsDir = "/nix/var/nix/gcroots/per-container";
    // Host directory bound read-only at /nix/store in every container.
    std::filesystem::path storeDir = "/nix/store";
    std::filesystem::path nixStateDir = "/nix/var/nix";
    std::filesystem::path nspawn = "/usr/bin/systemd-nspawn";
    std::filesystem::path nixBinDir = "/run/current-system/sw/bin";
    std::filesystem::path resolvConf = "/etc/resolv.conf";
    // What builds from Config and ConfigFile evaluate (nix-env -f), unless a
    // container's NixosPath says otherwise: nixos-container's default, or a
    // nixpkgs checkout's nixos directory when the builder's NIX_PATH has none.
    std::string nixosPath = "<nixpkgs/nixos>";
    // Units found here as container@NAME.service mark NAME as declarative.
    std::vector<std::filesystem::path> declarativeUnitDirs = {"/etc/systemd/system"};
    // Host directories a read-only bind from which keeps a container
    // confined (no host-access authorization needed); empty: none.
    std::vector<std::filesystem::path> confinedBindRoots;
    // Bound on long operations (builds, starts, stops) in flight at once.
    std::size_t maxOperations = 64;
    // Bound on commands (Run) of callers other than root running in
    // containers at once, and on those of one such uid. Root's own are not
    // counted: no tenant can lock root out.
    std::size_t maxRuns = 64;
    std::size_t maxRunsPerUser = 16;
    // Containers one uid other than root may own (have created); 0: no cap.
    std::size_t maxContainersPerUser = 0;
    // Unit limits (unit_limits.h, by key) of containers whose owner is not
    // root: given to a user's Create that does not say, and the most such a
    // container may have without host access (a higher value, or none, asks
    // for it). NIXOS_CONTAINERS_TENANT_<KEY> (TASKS_MAX, MEMORY_MAX,
    // CPU_QUOTA...); an empty value: no default and no cap for that key.
    std::map<std::string, std::string, std::less<>> tenantLimits = {{"TasksMax", "4096"},
                                                                    {"MemoryMax", "4G"}};
    // Seconds a Reload's switch-to-configuration may take before it is
    // killed and the Reload fails: its script is the container's, which may
    // never end. Five minutes, as a generous systemd reload.
    std::size_t reloadTimeoutSec = 300;
    // NAME=value of the service's environment that builds run with: what Nix
    // reads from its environment (its configuration, search path, store,
    // home and cache), and PATH. Nothing else of the service's reaches them.
    std::vector<std::string> builderEnvironment;
    // Where automatic private networks (no address given, no bridge) get
    // their addresses (address_pool.h): an IPv4 prefix carved into
    // point-to-point pairs, whose default keeps nixos-container's
    // 10.233.N.1/.2 for the first 256 (NIXOS_CONTAINERS_IPV4_POOL), and an
    // IPv6 prefix giving each a /64, empty for none
    // (NIXOS_CONTAINERS_IPV6_POOL; unset: a ULA /48 derived from
    // /etc/machine-id when the host has IPv6, see fromProcessEnvironment).
    std::string ipv4Pool = "10.233.0.0/16";
    std::string ipv6Pool;

    // Reads NIXOS_CONTAINERS_* variables (unset ones keep the defaults) and
    // the builders' variables (builderEnvironment).
    // Throws std::invalid_argument naming the bad variable.
    static Settings fromEnvironment(const std::map<std::string, std::string>& environment);
    // Also derives ipv6Pool from /etc/machine-id when the variable is unset.
    static Settings fromProcessEnvironment();
};

}  // namespace nixos_containers
