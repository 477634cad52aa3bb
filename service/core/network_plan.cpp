#include "network_plan.h"

#include "container_paths.h"

#include <cstdint>
#include <cstdio>

namespace nixos_containers {

namespace {

// FNV-1a: stable across runs, builds and machines, which std::hash is not
// guaranteed to be. Host names must stay the same after a service restart so
// that release() after a crash finds what prepare() created.
std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

VethPlan makeVeth(std::string hostName, std::string hostAltName, std::string containerName,
                  const NetworkOptions& options) {
    VethPlan veth;
    veth.hostName = std::move(hostName);
    veth.hostAltName = std::move(hostAltName);
    veth.containerName = std::move(containerName);
    veth.options = options;
    return veth;
}

}  // namespace

std::string macvlanName(std::string_view parent) {
    return "mv-" + std::string(parent);
}

std::string hostInterfaceName(std::string_view container) {
    std::string name = "ve-" + std::string(container);
    if (name.size() <= kMaxInterfaceName) {
        return name;
    }
    // 3 + 4 + 1 + 7 = 15 bytes. 28 bits of hash make an accidental
    // collision between two long names sharing the 4-character prefix
    // vanishingly unlikely; the altname check in release() guards the rest.
    char hash[8];
    std::snprintf(hash, sizeof hash, "%07llx",
                  static_cast<unsigned long long>(fnv1a(container) & 0xfffffffULL));
    return "ve-" + std::string(container.substr(0, 4)) + "-" + hash;
}

bool hasMainVeth(const ContainerSpec& spec) {
    return spec.privateNetwork && (spec.network.hasAddress() || !spec.network.hostBridge.empty());
}

std::optional<NetworkPlan> planNetwork(const std::string& container, const ContainerSpec& spec,
                                       const Settings& settings) {
    if (!spec.privateNetwork) {
        return std::nullopt;
    }
    NetworkPlan plan;
    plan.container = container;
    plan.netnsPin = netnsPinPath(settings, container);
    plan.unprivilegedRoot = spec.userNamespaced();
    if (hasMainVeth(spec)) {
        std::string hostName = hostInterfaceName(container);
        std::string altName = "ve-" + container;
        // The kernel refuses an altname equal to the link's own name, and a
        // short name needs none: it is its own "ve-NAME".
        if (altName == hostName) {
            altName.clear();
        }
        plan.mainVeth = makeVeth(std::move(hostName), std::move(altName), "eth0", spec.network);
        plan.mainVeth->containerMac = spec.localMacAddress;
    }
    // The module names both ends of an extra veth after its key.
    for (const auto& [name, options] : spec.extraVeths) {
        plan.extraVeths.push_back(makeVeth(name, "", name, options));
    }
    plan.moveInterfaces = spec.interfaces;
    plan.macvlanParents = spec.macvlans;
    return plan;
}

std::vector<std::string> plannedContainerAddresses(const ContainerSpec& spec) {
    std::vector<std::string> addresses;
    if (!spec.privateNetwork) {
        return addresses;
    }
    auto add = [&addresses](const NetworkOptions& options) {
        if (!options.localAddress.empty()) {
            addresses.push_back(stripPrefix(options.localAddress));
        }
        if (!options.localAddress6.empty()) {
            addresses.push_back(stripPrefix(options.localAddress6));
        }
    };
    add(spec.network);
    for (const auto& [name, options] : spec.extraVeths) {
        add(options);
    }
    return addresses;
}

std::string stripPrefix(std::string_view address) {
    return std::string(address.substr(0, address.find('/')));
}

}  // namespace nixos_containers
