#include "address_pool.h"

#include "errors.h"
#include "network_plan.h"

namespace nixos_containers {

namespace {
void forEachAddress(const ContainerSpec& spec, auto&& visit) {
    auto visitOptions = [&visit](const NetworkOptions& options) {
        for (const auto* address : {&options.hostAddress, &options.localAddress}) {
            if (!address->empty()) {
                visit(stripPrefix(*address));
            }
        }
    };
    visitOptions(spec.network);
    for (const auto& [name, options] : spec.extraVeths) {
        visitOptions(options);
    }
}
}  // namespace

void AddressPool::noteUsed(const ContainerSpec& spec) {
    forEachAddress(spec, [this](const std::string& address) { used_.insert(address); });
}

void AddressPool::forget(const ContainerSpec& spec) {
    forEachAddress(spec, [this](const std::string& address) {
        if (auto found = used_.find(address); found != used_.end()) {
            used_.erase(found);
        }
    });
}

namespace {
constexpr int kPoolNetworks = 256;
std::string poolPrefix(int network) {
    return "10.233." + std::to_string(network) + ".";
}
}  // namespace

bool AddressPool::isPoolPair(const NetworkOptions& options) {
    if (!options.hostAddress6.empty() || !options.localAddress6.empty() || !options.hostBridge.empty()) {
        return false;
    }
    for (int network = 0; network < kPoolNetworks; ++network) {
        const auto prefix = poolPrefix(network);
        if (options.hostAddress == prefix + "1" && options.localAddress == prefix + "2") {
            return true;
        }
    }
    return false;
}

std::pair<std::string, std::string> AddressPool::allocate() {
    for (int network = 0; network < kPoolNetworks; ++network) {
        const std::string prefix = poolPrefix(network);
        std::pair<std::string, std::string> pair{prefix + "1", prefix + "2"};
        if (!used_.contains(pair.first) && !used_.contains(pair.second)) {
            used_.insert(pair.first);
            used_.insert(pair.second);
            return pair;
        }
    }
    throw ContainerError(ErrorCode::LimitsExceeded,
                         "no free address pair left in 10.233.0.0/16; give HostAddress and LocalAddress");
}

void AddressPool::release(const std::pair<std::string, std::string>& pair) {
    for (const auto* address : {&pair.first, &pair.second}) {
        if (auto found = used_.find(*address); found != used_.end()) {
            used_.erase(found);
        }
    }
}

}  // namespace nixos_containers
