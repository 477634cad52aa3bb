#include "spec_keys.h"

#include "validation.h"

#include <array>
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

constexpr auto kRestart = UpdateEffect::Restart;
constexpr auto kReload = UpdateEffect::Reload;
constexpr auto kNothing = UpdateEffect::None;

// A row for a ContainerSpec field, with the choices every row makes.
template <auto Member>
SpecKey row(std::string_view busName, std::string_view confKey, UpdateEffect onChange, SpecCheck validate) {
    return SpecKey{.busName = busName,
                   .kind = kKindOf<MemberType<Member>>,
                   .confKey = confKey,
                   .confOnlyWithPrivateNetwork = false,
                   .onChange = onChange,
                   .systemSource = false,
                   .reachesHost = false,
                   .validate = validate,
                   .get = &getField<Member>,
                   .set = &setField<Member>};
}

// A row for one field of the main veth's options.
template <std::string NetworkOptions::*Member>
SpecKey networkRow(std::string_view busName, std::string_view confKey) {
    return SpecKey{.busName = busName,
                   .kind = SpecKind::String,
                   .confKey = confKey,
                   .confOnlyWithPrivateNetwork = true,
                   .onChange = kRestart,
                   .systemSource = false,
                   .reachesHost = true,
                   .validate = validateNetwork,
                   .get = &getNetworkField<Member>,
                   .set = &setNetworkField<Member>};
}

SpecKey source(SpecKey key) {
    key.systemSource = true;
    return key;
}
SpecKey reachingHost(SpecKey key) {
    key.reachesHost = true;
    return key;
}
SpecKey shown(SpecKey key, SpecValue (*show)(const Container&)) {
    key.show = show;
    return key;
}

// In NAME.conf's order, so that a new conf reads as the module writes one.
std::vector<SpecKey> makeRows() {
    using S = ContainerSpec;
    auto ports = reachingHost(row<&S::forwardPorts>("ForwardPorts", {}, kRestart, validateNetwork));
    ports.set = &setForwardPorts;
    ports.show = &showForwardPorts;
    return {
        shown(source(row<&S::systemPath>("SystemPath", "SYSTEM_PATH", kReload, validateSource)),
              &showSystemPath),
        source(row<&S::configFile>("ConfigFile", "CONFIG_FILE", kReload, validateSource)),
        source(row<&S::flake>("Flake", "FLAKE", kReload, validateSource)),
        // The text lives in NAME.nix; the conf names that file.
        source(row<&S::config>("Config", {}, kReload, validateSource)),
        row<&S::privateNetwork>("PrivateNetwork", "PRIVATE_NETWORK", kRestart, validateNetwork),
        networkRow<&NetworkOptions::hostBridge>("HostBridge", "HOST_BRIDGE"),
        ports,
        networkRow<&NetworkOptions::hostAddress>("HostAddress", "HOST_ADDRESS"),
        networkRow<&NetworkOptions::hostAddress6>("HostAddress6", "HOST_ADDRESS6"),
        networkRow<&NetworkOptions::localAddress>("LocalAddress", "LOCAL_ADDRESS"),
        networkRow<&NetworkOptions::localAddress6>("LocalAddress6", "LOCAL_ADDRESS6"),
        reachingHost(row<&S::interfaces>("Interfaces", "INTERFACES", kRestart, validateNetwork)),
        reachingHost(row<&S::macvlans>("Macvlans", "MACVLANS", kRestart, validateNetwork)),
        // Only read when the service starts: nothing live changes.
        row<&S::autoStart>("AutoStart", "AUTO_START", kNothing, nullptr),
        // Both live in EXTRA_NSPAWN_FLAGS, as the module keeps bind mounts.
        shown(reachingHost(row<&S::bindMounts>("BindMounts", {}, kRestart, validateMounts)), &showBindMounts),
        reachingHost(row<&S::extraFlags>("ExtraFlags", {}, kRestart, validateExtraFlags)),
        row<&S::ephemeral>("Ephemeral", "EPHEMERAL", kRestart, nullptr),
        reachingHost(row<&S::enableTun>("EnableTun", "ENABLE_TUN", kRestart, nullptr)),
        row<&S::timeoutStartSec>("TimeoutStartSec", "TIMEOUT_START_SEC", kRestart, validateTimeout),
        row<&S::memoryMax>("MemoryMax", "MEMORY_MAX", kRestart, validateMemoryMax),
        reachingHost(row<&S::additionalCapabilities>("AdditionalCapabilities", "ADDITIONAL_CAPABILITIES",
                                                     kRestart, validateCapabilities)),
        row<&S::tmpfs>("Tmpfs", "TMPFS", kRestart, validateMounts),
        reachingHost(row<&S::allowedDevices>("AllowedDevices", {}, kRestart, validateDevices)),
        reachingHost(row<&S::extraVeths>("ExtraVeths", {}, kRestart, validateNetwork)),
    };
}

const std::vector<SpecKey>& rows() {
    static const std::vector<SpecKey> kRows = makeRows();
    return kRows;
}

}  // namespace

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

SpecValue shownValue(const SpecKey& key, const Container& container) {
    return key.show != nullptr ? key.show(container) : key.get(container.spec);
}

std::span<const NetworkOptionField> networkOptionFields() {
    static constexpr std::array<NetworkOptionField, 5> kFields = {{
        {"HostAddress", &NetworkOptions::hostAddress},
        {"LocalAddress", &NetworkOptions::localAddress},
        {"HostAddress6", &NetworkOptions::hostAddress6},
        {"LocalAddress6", &NetworkOptions::localAddress6},
        {"HostBridge", &NetworkOptions::hostBridge},
    }};
    return kFields;
}

}  // namespace nixos_containers
