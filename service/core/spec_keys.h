#pragma once

#include "container.h"
#include "container_spec.h"
#include "settings.h"

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nixos_containers {

// The value of one spec key, one alternative per kind of value. The D-Bus
// decoder, the conf file, Inspect's JSON and the bus properties each convert
// kinds, never keys.
using SpecValue =
    std::variant<std::string, bool, std::vector<std::string>, std::vector<PortForward>,
                 std::vector<BindMount>, std::vector<AllowedDevice>, std::map<std::string, NetworkOptions>>;

// Size limits of every spec value (SpecKey::maxBytes), so that no caller
// makes the service hold, write or hand nspawn an unbounded value.
inline constexpr std::size_t kMaxSpecStringBytes = 4096;
inline constexpr std::size_t kMaxSpecListEntries = 256;
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;  // Config: a NixOS module's text

// SpecValue's alternatives, in its order.
enum class SpecKind { String, Flag, Words, Ports, BindMounts, Devices, Veths };

// The D-Bus type signature of a kind, as interfaces/*.xml spells it.
std::string_view busSignature(SpecKind kind);

// Where a key's value takes effect: what of a started container differs
// when the key is away from its default. tests/unit/spec_key_effects_test.cpp
// starts a container with each key's sample value and holds every row to
// what it declares here, so that a key stored and shown but never applied
// fails there (issue 27).
enum class KeyEffect : unsigned {
    None = 0,
    Nspawn = 1U << 0,   // nspawn's argv (nspawn_command.cpp, the system start_verb.cpp picks)
    Unit = 1U << 1,     // the transient unit's other properties (transient_unit.cpp, unit_limits.cpp)
    Network = 1U << 2,  // the network the service prepares (network_plan.cpp)
    Build = 1U << 3,    // the builder's command (builder.cpp): the system a source gives
    // Only NAME.conf (and NAME.nix): read by something other than a start
    // (AutoStart: the service's own start). Never with another effect.
    StoredOnly = 1U << 4,
};
constexpr KeyEffect operator|(KeyEffect left, KeyEffect right) {
    return static_cast<KeyEffect>(static_cast<unsigned>(left) | static_cast<unsigned>(right));
}
constexpr bool affects(KeyEffect effects, KeyEffect one) {
    return (static_cast<unsigned>(effects) & static_cast<unsigned>(one)) != 0;
}

// A validator of validation.cpp; one may check several keys (and how they
// combine), and validateSpec runs each once.
using SpecCheck = void (*)(const ContainerSpec& spec, const Settings& settings);
// Whether a spec asks, through one key, for something of the host's (a path,
// a device, a capability, an interface, a port below 1024, an address outside
// the pool, a build run as root): such a key needs the host-access action.
using HostCheck = bool (*)(const ContainerSpec& spec, const Settings& settings);

// One spec key: everything the layers need to know about it. Adding a
// plain key (a string, flag or word list) is a row here, its ContainerSpec
// field, the interface XML and the adaptor's one-line property getter.
struct SpecKey {
    std::string_view busName;  // Create's and Update's key, the property, Inspect's JSON key
    SpecKind kind;
    // NAME.conf's key for a plain key (a string, flag or word list, absent
    // when at its default); empty when conf_file.cpp converts it by hand.
    std::string_view confKey;
    // The module writes the network keys only with PRIVATE_NETWORK=1.
    bool confOnlyWithPrivateNetwork;
    KeyEffect effects;  // where its value shows when the container starts (and updateEffectOf)
    bool systemSource;  // one of the exclusive system sources
    // Gives the container something of the host's (a path, a device, a
    // capability, an interface, a port, an address on the host's network),
    // or has the host do something as root (a build), for some values;
    // nullptr for a key whose every value keeps the container confined.
    HostCheck asksHost;
    SpecCheck validate;  // nullptr: every value of its kind is valid
    SpecValue (*get)(const ContainerSpec& spec);
    void (*set)(ContainerSpec& spec, SpecValue value);
    // What the property and Inspect show when that is not the stored value:
    // the defaults the stored value leaves implicit, made explicit.
    SpecValue (*show)(const Container& container) = nullptr;
    // The longest string the key takes, each string of a list included;
    // lists hold at most kMaxSpecListEntries. Beyond: LimitsExceeded.
    std::size_t maxBytes = kMaxSpecStringBytes;
    // Its value can hold secrets (Config text): the property, GetAll and an
    // Inspect by anyone but root, the owner or a caller polkit lets update
    // the container show the key's default instead.
    bool secret = false;

    // Read off one default spec made once: a spec is dozens of strings and
    // lists, and loading a thousand confs asked for it per key and container.
    [[nodiscard]] SpecValue defaultValue() const {
        static const ContainerSpec defaults{};
        return get(defaults);
    }
};

// Every key, in the order NAME.conf writes them.
std::span<const SpecKey> specKeys();
// nullptr for a key nobody knows.
const SpecKey* findSpecKey(std::string_view busName);
// What an Update of `key` asks of a running container, from where its value
// shows (`effects`): nothing for a key only NAME.conf holds, a rebuild and
// switch for the system and what builds it, the running unit's own property
// for a unit limit, else a restart. classifyUpdate (what Update does) and
// the manager's SpecKeys property (what clients are told) both ask this.
UpdateEffect updateEffectOf(const SpecKey& key);
// SpecKeys' word for an effect: "stored", "live", "reload", "restart".
std::string_view updateEffectWord(UpdateEffect effect);
// One row of the manager's SpecKeys property.
struct SpecKeySummary {
    std::string_view key;
    std::string_view signature;
    std::string_view onUpdate;  // updateEffectWord(updateEffectOf(row))
    bool needsHostAccess;       // the row has a host check (asksHost)
};
std::vector<SpecKeySummary> specKeySummaries();
// For keys the code names itself; throws std::out_of_range for an unknown one.
const SpecKey& specKey(std::string_view busName);
// The keys through which a Create's spec asks for host access, in registry
// order. A default can ask too: PrivateUsers "no" is the module's.
std::vector<std::string> hostAccessKeys(const ContainerSpec& spec, const Settings& settings);
// An Update's: those through which `after` asks and that `before` did not
// already hold at the same value, and the source of an Update that builds.
std::vector<std::string> hostAccessKeys(const ContainerSpec& before, const ContainerSpec& after,
                                        const Settings& settings);
// The value the property and Inspect show; a secret key's default unless
// `withSecrets` (an Inspect by a caller who may see them).
SpecValue shownValue(const SpecKey& key, const Container& container, bool withSecrets = false);

// The named fields of NetworkOptions, as ExtraVeths' inner dictionaries and
// Inspect spell them.
struct NetworkOptionField {
    std::string_view name;
    std::string NetworkOptions::*member;
};
std::span<const NetworkOptionField> networkOptionFields();

}  // namespace nixos_containers
