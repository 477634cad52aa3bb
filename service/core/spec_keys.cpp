#include "spec_keys.h"

#include "address_pool.h"
#include "bind_pins.h"

#include "nix_flags.h"
#include "unit_limits.h"

#include "validation.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>

namespace nixos_containers {

namespace {

// The SpecKind of a SpecValue alternative: its index.
template <typename T, typename Variant>
struct AlternativeIndex;
template <typename T, typename... Alternatives>
struct AlternativeIndex<T, std::variant<Alternatives...>> {
    static constexpr std::size_t value = [] {
        std::size_t index = 0;
        bool found = false;
        ((found = found || std::is_same_v<T, Alternatives>, index += found ? 0 : 1), ...);
        return index;
    }();
};
template <typename T>
constexpr SpecKind kKindOf = static_cast<SpecKind>(AlternativeIndex<T, SpecValue>::value);

template <auto Member>
using MemberType = std::remove_cvref_t<decltype(std::declval<ContainerSpec&>().*Member)>;

// get / set of a ContainerSpec field holding a SpecValue alternative as is.
template <auto Member>
SpecValue getField(const ContainerSpec& spec) {
    return spec.*Member;
}
template <auto Member>
void setField(ContainerSpec& spec, SpecValue value) {
    spec.*Member = std::get<MemberType<Member>>(std::move(value));
}

// get / set of one field of the main veth's NetworkOptions.
template <std::string NetworkOptions::*Member>
SpecValue getNetworkField(const ContainerSpec& spec) {
    return spec.network.*Member;
}
template <std::string NetworkOptions::*Member>
void setNetworkField(ContainerSpec& spec, SpecValue value) {
    spec.network.*Member = std::get<std::string>(std::move(value));
}

std::vector<PortForward> withContainerPorts(std::vector<PortForward> ports) {
    for (auto& port : ports) {
        port.containerPort = port.effectiveContainerPort();
    }
    return ports;
}

// Stored explicitly, as the module's mkPortStr writes them, so that an
// Update repeating the same ports is no change.
void setForwardPorts(ContainerSpec& spec, SpecValue value) {
    spec.forwardPorts = withContainerPorts(std::get<std::vector<PortForward>>(std::move(value)));
}
SpecValue showForwardPorts(const Container& container) {
    return withContainerPorts(container.spec.forwardPorts);
}

SpecValue showBindMounts(const Container& container) {
    auto binds = container.spec.bindMounts;
    for (auto& bind : binds) {
        bind.hostPath = bind.effectiveHostPath();
    }
    return binds;
}

// The system the container runs, also when it was built (Config,
// ConfigFile, Flake) rather than given.
SpecValue showSystemPath(const Container& container) {
    return container.spec.systemPath.empty() ? container.systemOnHost.string() : container.spec.systemPath;
}

constexpr auto kNspawn = KeyEffect::Nspawn;
constexpr auto kUnit = KeyEffect::Unit;
constexpr auto kNetwork = KeyEffect::Network;
constexpr auto kBuild = KeyEffect::Build;
constexpr auto kStoredOnly = KeyEffect::StoredOnly;

// Host checks. Any value but the default asks for the host.
template <auto Member>
bool notDefault(const ContainerSpec& spec, const Settings& /*settings*/) {
    return !(spec.*Member == MemberType<Member>{});
}

// The IPv4 pool's addresses (NIXOS_CONTAINERS_IPV4_POOL, 10.233.0.0/16 by
// default, address_pool.h) are the containers' own; any other IPv4 address,
// and any IPv6 address, is routed into the container by the host. So is
// every address a prefix covers: the host routes 10.233.9.1/1, half of
// IPv4, to the container's veth.
bool outsidePool(const std::string& address, const Settings& settings) {
    if (address.empty()) {
        return false;
    }
    const auto slash = address.find('/');
    if (slash != std::string::npos && std::string_view(address).substr(slash + 1) != "32") {
        return true;
    }
    return !AddressPool(settings.ipv4Pool).inIpv4Pool(address.substr(0, slash));
}
template <std::string NetworkOptions::*Member>
bool addressOutsidePool(const ContainerSpec& spec, const Settings& settings) {
    return outsidePool(spec.network.*Member, settings);
}
template <std::string NetworkOptions::*Member>
bool networkNotDefault(const ContainerSpec& spec, const Settings& /*settings*/) {
    return !(spec.network.*Member).empty();
}

// A bind that is not confined (isConfinedBind): writable, not beneath one
// of the admin's confined roots (NIXOS_CONTAINERS_CONFINED_BIND_ROOTS), or
// reached through a link beneath one, which nspawn would follow anywhere.
bool bindsBeyondConfinedRoots(const ContainerSpec& spec, const Settings& settings) {
    return std::any_of(spec.bindMounts.begin(), spec.bindMounts.end(),
                       [&settings](const BindMount& mount) { return !isConfinedBind(mount, settings); });
}

// A user namespace of the service's choosing keeps a container confined;
// the host's own uids ("identity"), a range the caller names (which may be
// the host's users') and none at all ("no": the container's root is the
// host's, a private network or not) do not.
bool unconfinedUsers(const ContainerSpec& spec, const Settings& /*settings*/) {
    return spec.privateUsers != "pick";
}

// The ExtraFlags words judged as `key` for host access (extraFlagHostKey).
std::vector<std::string> extraFlagsJudgedAs(const ContainerSpec& spec, std::string_view key) {
    std::vector<std::string> words;
    for (const auto& word : spec.extraFlags) {
        if (extraFlagHostKey(word) == key) {
            words.push_back(word);
        }
    }
    return words;
}
// ExtraFlags itself asks only for what no other key gives; the rest asks
// through the key that gives the same (asksHost below).
bool extraFlagsReachHost(const ContainerSpec& spec, const Settings& /*settings*/) {
    return !extraFlagsJudgedAs(spec, "ExtraFlags").empty();
}

// A unit limit above the admin's limit for containers of users other than
// root (Settings::tenantLimits), or none at all.
template <std::string ContainerSpec::*Field>
bool aboveTenantLimitOf(const ContainerSpec& spec, const Settings& settings) {
    const auto* key = unitLimitKeyOf(Field);
    return key != nullptr && aboveTenantLimit(*key, spec, settings);
}

bool privilegedHostPort(const ContainerSpec& spec, const Settings& /*settings*/) {
    constexpr std::uint16_t kFirstUnprivilegedPort = 1024;
    return std::any_of(spec.forwardPorts.begin(), spec.forwardPorts.end(),
                       [](const PortForward& port) { return port.hostPort < kFirstUnprivilegedPort; });
}

// A row for a ContainerSpec field, with the choices every row makes.
template <auto Member>
SpecKey row(std::string_view busName, std::string_view confKey, KeyEffect effects, SpecCheck validate) {
    return SpecKey{.busName = busName,
                   .kind = kKindOf<MemberType<Member>>,
                   .confKey = confKey,
                   .confOnlyWithPrivateNetwork = false,
                   .effects = effects,
                   .systemSource = false,
                   .asksHost = nullptr,
                   .validate = validate,
                   .get = &getField<Member>,
                   .set = &setField<Member>};
}

// A row for one field of the main veth's options: the network plan's main
// veth, and the module's variable of the same name in the container's
// environment (nspawn's --setenv).
template <std::string NetworkOptions::*Member>
SpecKey networkRow(std::string_view busName, std::string_view confKey, HostCheck asksHost) {
    return SpecKey{.busName = busName,
                   .kind = SpecKind::String,
                   .confKey = confKey,
                   .confOnlyWithPrivateNetwork = true,
                   .effects = kNspawn | kNetwork,
                   .systemSource = false,
                   .asksHost = asksHost,
                   .validate = validateNetwork,
                   .get = &getNetworkField<Member>,
                   .set = &setNetworkField<Member>};
}

SpecKey source(SpecKey key) {
    key.systemSource = true;
    return key;
}
// A key that asks for the host through `check`; by default through any
// value but the default.
template <auto Member>
SpecKey reachingHost(SpecKey key, HostCheck check = &notDefault<Member>) {
    key.asksHost = check;
    return key;
}
SpecKey shown(SpecKey key, SpecValue (*show)(const Container&)) {
    key.show = show;
    return key;
}
SpecKey upTo(std::size_t maxBytes, SpecKey key) {
    key.maxBytes = maxBytes;
    return key;
}
SpecKey secret(SpecKey key) {
    key.secret = true;
    return key;
}

// A unit limit (unit_limits.h): set live, and host access above the
// tenant limit.
template <std::string ContainerSpec::*Field>
SpecKey limitRow(std::string_view busName, std::string_view confKey) {
    return reachingHost<Field>(row<Field>(busName, confKey, kUnit, validateUnitLimits),
                               &aboveTenantLimitOf<Field>);
}

// In NAME.conf's order, so that a new conf reads as the module writes one.
std::vector<SpecKey> makeRows() {
    using S = ContainerSpec;
    auto ports = reachingHost<&S::forwardPorts>(
        row<&S::forwardPorts>("ForwardPorts", {}, kNspawn, validateNetwork), &privilegedHostPort);
    ports.set = &setForwardPorts;
    ports.show = &showForwardPorts;
    return {
        shown(source(row<&S::systemPath>("SystemPath", "SYSTEM_PATH", kNspawn, validateSource)),
              &showSystemPath),
        // Builds run as root on the host: a build source asks for the host.
        reachingHost<&S::configFile>(
            source(row<&S::configFile>("ConfigFile", "CONFIG_FILE", kBuild, validateSource))),
        reachingHost<&S::flake>(source(row<&S::flake>("Flake", "FLAKE", kBuild, validateSource))),
        // The text lives in NAME.nix; the conf names that file.
        secret(upTo(kMaxConfigBytes,
                    reachingHost<&S::config>(source(row<&S::config>("Config", {}, kBuild, validateSource))))),
        // Builds run as root on the host: how they run asks for the host.
        reachingHost<&S::nixFlags>(row<&S::nixFlags>("NixFlags", "NIX_FLAGS", kBuild, validateNixFlags)),
        // Builds run as root on the host: what they evaluate asks for the host.
        reachingHost<&S::nixosPath>(row<&S::nixosPath>("NixosPath", "NIXOS_PATH", kBuild, validateSource)),
        row<&S::privateNetwork>("PrivateNetwork", "PRIVATE_NETWORK", kNspawn | kNetwork, validateNetwork),
        // Joins a namespace of the host's choosing: host access.
        reachingHost<&S::networkNamespace>(row<&S::networkNamespace>(
            "NetworkNamespace", "NETWORK_NAMESPACE_PATH", kNspawn, validateNetwork)),
        networkRow<&NetworkOptions::hostBridge>("HostBridge", "HOST_BRIDGE",
                                                &networkNotDefault<&NetworkOptions::hostBridge>),
        ports,
        networkRow<&NetworkOptions::hostAddress>("HostAddress", "HOST_ADDRESS",
                                                 &addressOutsidePool<&NetworkOptions::hostAddress>),
        networkRow<&NetworkOptions::hostAddress6>("HostAddress6", "HOST_ADDRESS6",
                                                  &addressOutsidePool<&NetworkOptions::hostAddress6>),
        networkRow<&NetworkOptions::localAddress>("LocalAddress", "LOCAL_ADDRESS",
                                                  &addressOutsidePool<&NetworkOptions::localAddress>),
        networkRow<&NetworkOptions::localAddress6>("LocalAddress6", "LOCAL_ADDRESS6",
                                                   &addressOutsidePool<&NetworkOptions::localAddress6>),
        row<&S::localMacAddress>("LocalMacAddress", "LOCAL_MAC_ADDRESS", kNetwork, validateNetwork),
        reachingHost<&S::interfaces>(
            row<&S::interfaces>("Interfaces", "INTERFACES", kNetwork, validateNetwork)),
        reachingHost<&S::macvlans>(row<&S::macvlans>("Macvlans", "MACVLANS", kNetwork, validateNetwork)),
        // Only read when the service starts: nothing live changes.
        row<&S::autoStart>("AutoStart", "AUTO_START", kStoredOnly, nullptr),
        // Both live in EXTRA_NSPAWN_FLAGS, as the module keeps bind mounts.
        shown(reachingHost<&S::bindMounts>(row<&S::bindMounts>("BindMounts", {}, kNspawn, validateMounts),
                                           &bindsBeyondConfinedRoots),
              &showBindMounts),
        reachingHost<&S::extraFlags>(row<&S::extraFlags>("ExtraFlags", {}, kNspawn, validateExtraFlags),
                                     &extraFlagsReachHost),
        row<&S::ephemeral>("Ephemeral", "EPHEMERAL", kNspawn | kUnit, nullptr),
        row<&S::copyResolvConf>("CopyResolvConf", "COPY_RESOLV_CONF", kNspawn, nullptr),
        reachingHost<&S::enableTun>(row<&S::enableTun>("EnableTun", "ENABLE_TUN", kNspawn | kUnit, nullptr)),
        row<&S::timeoutStartSec>("TimeoutStartSec", "TIMEOUT_START_SEC", kUnit, validateTimeout),
        // The unit's limits (unit_limits.cpp): set live on a running unit.
        limitRow<&S::memoryMax>("MemoryMax", "MEMORY_MAX"),
        limitRow<&S::memoryHigh>("MemoryHigh", "MEMORY_HIGH"),
        limitRow<&S::cpuWeight>("CPUWeight", "CPU_WEIGHT"),
        limitRow<&S::cpuQuota>("CPUQuota", "CPU_QUOTA"),
        limitRow<&S::tasksMax>("TasksMax", "TASKS_MAX"),
        limitRow<&S::ioWeight>("IOWeight", "IO_WEIGHT"),
        reachingHost<&S::privateUsers>(
            row<&S::privateUsers>("PrivateUsers", "PRIVATE_USERS", kNspawn, validatePrivateUsers),
            &unconfinedUsers),
        reachingHost<&S::additionalCapabilities>(row<&S::additionalCapabilities>(
            "AdditionalCapabilities", "ADDITIONAL_CAPABILITIES", kNspawn, validateCapabilities)),
        row<&S::tmpfs>("Tmpfs", "TMPFS", kNspawn, validateMounts),
        reachingHost<&S::allowedDevices>(
            row<&S::allowedDevices>("AllowedDevices", {}, kUnit, validateDevices)),
        reachingHost<&S::extraVeths>(row<&S::extraVeths>("ExtraVeths", {}, kNetwork, validateNetwork)),
    };
}

const std::vector<SpecKey>& rows() {
    static const std::vector<SpecKey> kRows = makeRows();
    return kRows;
}

}  // namespace

UpdateEffect updateEffectOf(const SpecKey& key) {
    if (key.effects == KeyEffect::StoredOnly) {
        return UpdateEffect::None;
    }
    if (key.systemSource || affects(key.effects, KeyEffect::Build)) {
        return UpdateEffect::Reload;
    }
    // unit_limits.cpp sets these on the running unit; any other unit
    // property (TimeoutStartSec, DeviceAllow) is fixed when the unit starts.
    const auto limits = unitLimitKeys();
    const bool limit = std::any_of(limits.begin(), limits.end(), [&key](const UnitLimitKey& unitLimit) {
        return unitLimit.key == key.busName;
    });
    return key.effects == KeyEffect::Unit && limit ? UpdateEffect::Live : UpdateEffect::Restart;
}

std::string_view updateEffectWord(UpdateEffect effect) {
    switch (effect) {
        case UpdateEffect::None:
            return "stored";
        case UpdateEffect::Live:
            return "live";
        case UpdateEffect::Reload:
            return "reload";
        case UpdateEffect::Restart:
            return "restart";
    }
    return "restart";
}

std::vector<SpecKeySummary> specKeySummaries() {
    std::vector<SpecKeySummary> summaries;
    for (const auto& key : rows()) {
        summaries.push_back({key.busName, busSignature(key.kind), updateEffectWord(updateEffectOf(key)),
                             key.asksHost != nullptr});
    }
    return summaries;
}

namespace {

// Whether `spec` asks for the host through `key`: its own value, or an
// ExtraFlags word that gives the same.
bool asksHost(const SpecKey& key, const ContainerSpec& spec, const Settings& settings) {
    return (key.asksHost != nullptr && key.asksHost(spec, settings)) ||
           !extraFlagsJudgedAs(spec, key.busName).empty();
}

}  // namespace

std::vector<std::string> hostAccessKeys(const ContainerSpec& spec, const Settings& settings) {
    std::vector<std::string> keys;
    for (const auto& key : rows()) {
        if (asksHost(key, spec, settings)) {
            keys.emplace_back(key.busName);
        }
    }
    return keys;
}

std::vector<std::string> hostAccessKeys(const ContainerSpec& before, const ContainerSpec& after,
                                        const Settings& settings) {
    std::vector<std::string> keys;
    // Every Update of a built container builds it again, as root, from what
    // its source names now (a file the owner may have edited since).
    const bool rebuilds = after.needsBuild();
    for (const auto& key : rows()) {
        // A key asks anew when its value changed, or when what it depends on
        // did (a value that another key made harmless before), and a source
        // on every rebuild.
        if (asksHost(key, after, settings) &&
            (key.get(before) != key.get(after) || !asksHost(key, before, settings) ||
             extraFlagsJudgedAs(before, key.busName) != extraFlagsJudgedAs(after, key.busName) ||
             (key.systemSource && rebuilds))) {
            keys.emplace_back(key.busName);
        }
    }
    return keys;
}

std::string_view busSignature(SpecKind kind) {
    switch (kind) {
        case SpecKind::String:
            return "s";
        case SpecKind::Flag:
            return "b";
        case SpecKind::Words:
            return "as";
        case SpecKind::Ports:
            return "a(sqq)";
        case SpecKind::BindMounts:
            return "a(ssb)";
        case SpecKind::Devices:
            return "a(ss)";
        case SpecKind::Veths:
            return "a{sa{ss}}";
    }
    throw std::logic_error("unknown spec value kind");
}

std::span<const SpecKey> specKeys() {
    return rows();
}

const SpecKey* findSpecKey(std::string_view busName) {
    static const auto kIndex = [] {
        std::unordered_map<std::string_view, const SpecKey*> index;
        for (const auto& key : rows()) {
            index.emplace(key.busName, &key);
        }
        return index;
    }();
    auto found = kIndex.find(busName);
    return found == kIndex.end() ? nullptr : found->second;
}

const SpecKey& specKey(std::string_view busName) {
    const auto* key = findSpecKey(busName);
    if (key == nullptr) {
        throw std::out_of_range("no spec key '" + std::string(busName) + "'");
    }
    return *key;
}

SpecValue shownValue(const SpecKey& key, const Container& container, bool withSecrets) {
    if (key.secret && !withSecrets) {
        return key.defaultValue();
    }
    return key.show != nullptr ? key.show(container) : key.get(container.spec);
}

std::span<const NetworkOptionField> networkOptionFields() {
    static constexpr auto kFields = std::to_array<NetworkOptionField>({
        {"HostAddress", &NetworkOptions::hostAddress},
        {"LocalAddress", &NetworkOptions::localAddress},
        {"HostAddress6", &NetworkOptions::hostAddress6},
        {"LocalAddress6", &NetworkOptions::localAddress6},
        {"HostBridge", &NetworkOptions::hostBridge},
    });
    return kFields;
}

}  // namespace nixos_containers
