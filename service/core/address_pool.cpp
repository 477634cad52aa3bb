#include "address_pool.h"

#include "errors.h"
#include "network_plan.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <stdexcept>

namespace nixos_containers {

namespace {

// Bounds the IPv6 scan; a /48 has 65536 /64s, far more than one host runs.
constexpr std::size_t kMaxIpv6Subnets = std::size_t{1} << 24;
// nixos-container's pairs, 10.233.N.1/10.233.N.2: always the service's own.
constexpr std::uint32_t kLegacyNetwork = 0x0ae90000;  // 10.233.0.0/16

std::optional<std::uint32_t> parseIpv4(const std::string& text) {
    in_addr address{};
    if (inet_pton(AF_INET, text.c_str(), &address) != 1) {
        return std::nullopt;
    }
    return ntohl(address.s_addr);
}

std::optional<std::array<std::uint8_t, 16>> parseIpv6(const std::string& text) {
    std::array<std::uint8_t, 16> bytes{};
    if (inet_pton(AF_INET6, text.c_str(), bytes.data()) != 1) {
        return std::nullopt;
    }
    return bytes;
}

std::string formatIpv4(std::uint32_t address) {
    in_addr raw{htonl(address)};
    char text[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, &raw, text, sizeof text);
}

std::string formatIpv6(const std::array<std::uint8_t, 16>& bytes) {
    char text[INET6_ADDRSTRLEN];
    return inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
}

// One spelling per address, so that fd00:0::1 given by a caller is seen to be
// the pool's fd00::1.
std::string canonical(const std::string& address) {
    auto bare = stripPrefix(address);
    if (auto ipv4 = parseIpv4(bare)) {
        return formatIpv4(*ipv4);
    }
    if (auto ipv6 = parseIpv6(bare)) {
        return formatIpv6(*ipv6);
    }
    return bare;
}

void forEachAddress(const ContainerSpec& spec, auto&& visit) {
    auto visitOptions = [&visit](const NetworkOptions& options) {
        for (const auto* address :
             {&options.hostAddress, &options.localAddress, &options.hostAddress6, &options.localAddress6}) {
            if (!address->empty()) {
                visit(canonical(*address));
            }
        }
    };
    visitOptions(spec.network);
    for (const auto& [name, options] : spec.extraVeths) {
        visitOptions(options);
    }
}

// "ADDRESS/LENGTH" with LENGTH in [minimum, maximum].
std::pair<std::string, int> splitPrefix(std::string_view text, int minimum, int maximum) {
    const auto slash = text.find('/');
    int length = -1;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (error != std::errc{} || end != digits.data() + digits.size()) {
            length = -1;
        }
    }
    if (length < minimum || length > maximum) {
        throw std::invalid_argument("'" + std::string(text) + "' is not a prefix of length /" +
                                    std::to_string(minimum) + " to /" + std::to_string(maximum));
    }
    return {std::string(text.substr(0, slash)), length};
}

bool hasHostBits(const std::array<std::uint8_t, 16>& bytes, int length) {
    for (int bit = length; bit < 128; ++bit) {
        if ((bytes[bit / 8] >> (7 - bit % 8)) & 1) {
            return true;
        }
    }
    return false;
}

bool samePrefix(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b, int length) {
    for (int bit = 0; bit < length; ++bit) {
        if (((a[bit / 8] ^ b[bit / 8]) >> (7 - bit % 8)) & 1) {
            return false;
        }
    }
    return true;
}

}  // namespace

AddressPool::AddressPool(std::string_view ipv4Pool, std::string_view ipv6Pool) {
    auto [ipv4, ipv4Length] = splitPrefix(ipv4Pool, 8, 30);
    auto base = parseIpv4(ipv4);
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - ipv4Length);
    if (!base || (*base & ~mask) != 0) {
        throw std::invalid_argument("'" + std::string(ipv4Pool) + "' is not an IPv4 network");
    }
    ipv4Base_ = *base;
    ipv4Length_ = ipv4Length;
    if (ipv6Pool.empty()) {
        return;
    }
    auto [ipv6, ipv6Length] = splitPrefix(ipv6Pool, 8, 64);
    auto base6 = parseIpv6(ipv6);
    if (!base6 || hasHostBits(*base6, ipv6Length)) {
        throw std::invalid_argument("'" + std::string(ipv6Pool) + "' is not an IPv6 network");
    }
    hasIpv6_ = true;
    ipv6Base_ = *base6;
    ipv6Length_ = ipv6Length;
}

std::size_t AddressPool::ipv4Pairs() const {
    return std::size_t{1} << (32 - ipv4Length_ - 2);
}

// The blocks that start a /24 first (nixos-container's pairs in the default
// pool), then the rest of every /24 in address order.
std::uint32_t AddressPool::ipv4Block(std::size_t index) const {
    const std::size_t size = std::size_t{1} << (32 - ipv4Length_);
    if (size < 256) {
        return ipv4Base_ + static_cast<std::uint32_t>(index * 4);
    }
    const std::size_t networks = size / 256;
    if (index < networks) {
        return ipv4Base_ + static_cast<std::uint32_t>(index * 256);
    }
    const std::size_t rest = index - networks;
    return ipv4Base_ + static_cast<std::uint32_t>((rest / 63) * 256 + (rest % 63 + 1) * 4);
}

AddressPool::Ipv6 AddressPool::ipv6Address(std::size_t subnet, std::uint8_t interfaceId) const {
    Ipv6 address = ipv6Base_;
    // The subnet number fills the bits between the pool's prefix and /64.
    for (int byte = 7; byte >= 0 && subnet != 0; --byte) {
        address[byte] |= static_cast<std::uint8_t>(subnet & 0xff);
        subnet >>= 8;
    }
    address[15] = interfaceId;
    return address;
}

bool AddressPool::isIpv4PoolPair(const std::string& host, const std::string& local) const {
    auto hostAddress = parseIpv4(host);
    auto localAddress = parseIpv4(local);
    if (!hostAddress || !localAddress || *localAddress != *hostAddress + 1) {
        return false;
    }
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - ipv4Length_);
    const bool ofThisPool = (*hostAddress & 3) == 1 && (*hostAddress & mask) == ipv4Base_;
    const bool legacy = (*hostAddress & 0xffff00ff) == (kLegacyNetwork | 1);
    return ofThisPool || legacy;
}

bool AddressPool::inIpv4Pool(const std::string& address) const {
    auto parsed = parseIpv4(address);
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - ipv4Length_);
    return parsed && (*parsed & mask) == ipv4Base_;
}

bool AddressPool::isIpv6PoolPair(const std::string& host, const std::string& local) const {
    auto hostAddress = parseIpv6(host);
    auto localAddress = parseIpv6(local);
    if (!hasIpv6_ || !hostAddress || !localAddress || !samePrefix(*hostAddress, ipv6Base_, ipv6Length_)) {
        return false;
    }
    auto expectedLocal = *hostAddress;
    expectedLocal[15] = 2;
    const bool interfaceIdOne = std::all_of(hostAddress->begin() + 8, hostAddress->end() - 1,
                                            [](std::uint8_t byte) { return byte == 0; }) &&
                                (*hostAddress)[15] == 1;
    return interfaceIdOne && *localAddress == expectedLocal;
}

bool AddressPool::isPoolPair(const NetworkOptions& options) const {
    if (!options.hostBridge.empty() || !isIpv4PoolPair(options.hostAddress, options.localAddress)) {
        return false;
    }
    // A container made before the IPv6 pool has the IPv4 pair alone.
    return (options.hostAddress6.empty() && options.localAddress6.empty()) ||
           isIpv6PoolPair(options.hostAddress6, options.localAddress6);
}

void AddressPool::noteUsed(const ContainerSpec& spec) {
    forEachAddress(spec, [this](const std::string& address) { used_.insert(address); });
}

void AddressPool::forget(const ContainerSpec& spec) {
    forEachAddress(spec, [this](const std::string& address) {
        if (auto found = used_.find(address); found != used_.end()) {
            used_.erase(found);
        }
        // Only the pair this address belongs to may have become free.
        nextIpv4_ = std::min(nextIpv4_, ipv4Index(address));
        nextIpv6_ = std::min(nextIpv6_, ipv6Subnet(address));
    });
}

// Where `address` is in the allocation order of the IPv4 pool (ipv4Block's
// inverse), or past every index when it is no pair's.
std::size_t AddressPool::ipv4Index(const std::string& address) const {
    auto parsed = parseIpv4(address);
    if (!parsed || !inIpv4Pool(address) || (*parsed & 3) == 0 || (*parsed & 3) == 3) {
        return std::numeric_limits<std::size_t>::max();
    }
    const std::size_t offset = (*parsed & ~std::uint32_t{3}) - ipv4Base_;
    const std::size_t size = std::size_t{1} << (32 - ipv4Length_);
    if (size < 256) {
        return offset / 4;
    }
    const std::size_t networks = size / 256;
    const std::size_t row = offset / 256;
    const std::size_t within = offset % 256;
    return within == 0 ? row : networks + row * 63 + (within / 4 - 1);
}

// The /64 of the IPv6 pool `address` is in, or past every one.
std::size_t AddressPool::ipv6Subnet(const std::string& address) const {
    auto parsed = parseIpv6(address);
    if (!hasIpv6_ || !parsed || !samePrefix(*parsed, ipv6Base_, ipv6Length_)) {
        return std::numeric_limits<std::size_t>::max();
    }
    std::uint64_t high = 0;
    for (int byte = 0; byte < 8; ++byte) {
        high = (high << 8) | (*parsed)[byte];
    }
    const int bits = std::min(64 - ipv6Length_, 24);
    const std::uint64_t subnet = high & ((std::uint64_t{1} << (64 - ipv6Length_)) - 1);
    return subnet < (std::uint64_t{1} << bits) ? static_cast<std::size_t>(subnet)
                                               : std::numeric_limits<std::size_t>::max();
}

bool AddressPool::isFree(const std::string& host, const std::string& local) const {
    return !used_.contains(host) && !used_.contains(local);
}

NetworkOptions AddressPool::allocate() {
    NetworkOptions pair;
    std::size_t ipv4 = nextIpv4_;
    for (; ipv4 < ipv4Pairs(); ++ipv4) {
        const auto block = ipv4Block(ipv4);
        pair.hostAddress = formatIpv4(block + 1);
        pair.localAddress = formatIpv4(block + 2);
        if (isFree(pair.hostAddress, pair.localAddress)) {
            break;
        }
    }
    if (ipv4 == ipv4Pairs()) {
        throw ContainerError(ErrorCode::LimitsExceeded,
                             "no free address pair left in " + formatIpv4(ipv4Base_) + "/" +
                                 std::to_string(ipv4Length_) + "; give HostAddress and LocalAddress");
    }
    std::size_t ipv6 = nextIpv6_;
    if (hasIpv6_) {
        const auto subnets = std::min(kMaxIpv6Subnets, std::size_t{1} << std::min(64 - ipv6Length_, 24));
        for (; ipv6 < subnets; ++ipv6) {
            pair.hostAddress6 = formatIpv6(ipv6Address(ipv6, 1));
            pair.localAddress6 = formatIpv6(ipv6Address(ipv6, 2));
            if (isFree(pair.hostAddress6, pair.localAddress6)) {
                break;
            }
        }
        if (ipv6 == subnets) {
            throw ContainerError(ErrorCode::LimitsExceeded, "no free /64 left in " + formatIpv6(ipv6Base_) +
                                                                "/" + std::to_string(ipv6Length_) +
                                                                "; give HostAddress and LocalAddress");
        }
        nextIpv6_ = ipv6 + 1;
    }
    nextIpv4_ = ipv4 + 1;
    ContainerSpec held;
    held.network = pair;
    noteUsed(held);
    return pair;
}

void AddressPool::release(const NetworkOptions& pair) {
    ContainerSpec held;
    held.network = pair;
    forget(held);
}

std::string ulaPoolFromMachineId(std::string_view machineId) {
    // FNV-1a over the service's key and the id, then a 64-bit finaliser
    // (splitmix64's) so that all 40 bits taken depend on every input bit.
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (std::string_view part : {std::string_view("org.nixos.Containers address pool:"), machineId}) {
        for (unsigned char c : part) {
            hash ^= c;
            hash *= 0x100000001b3ULL;
        }
    }
    hash ^= hash >> 30;
    hash *= 0xbf58476d1ce4e5b9ULL;
    hash ^= hash >> 27;
    hash *= 0x94d049bb133111ebULL;
    hash ^= hash >> 31;
    std::array<std::uint8_t, 16> prefix{};
    prefix[0] = 0xfd;
    for (int byte = 1; byte <= 5; ++byte) {
        prefix[byte] = static_cast<std::uint8_t>(hash >> (8 * (byte - 1)));
    }
    return formatIpv6(prefix) + "/48";
}

}  // namespace nixos_containers
