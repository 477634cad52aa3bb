#include "spec_decoder.h"

#include "errors.h"

#include <functional>

namespace nixos_containers {

namespace {

using Ports = std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>>;
using Binds = std::vector<sdbus::Struct<std::string, std::string, bool>>;
using Devices = std::vector<sdbus::Struct<std::string, std::string>>;
using Veths = std::map<std::string, std::map<std::string, std::string>>;

NetworkOptions vethOptions(const std::string& veth, const std::map<std::string, std::string>& fields) {
    NetworkOptions options;
    const std::map<std::string, std::string NetworkOptions::*> known = {
        {"HostAddress", &NetworkOptions::hostAddress},
        {"LocalAddress", &NetworkOptions::localAddress},
        {"HostAddress6", &NetworkOptions::hostAddress6},
        {"LocalAddress6", &NetworkOptions::localAddress6},
        {"HostBridge", &NetworkOptions::hostBridge}};
    for (const auto& [key, value] : fields) {
        auto found = known.find(key);
        if (found == known.end()) {
            throwInvalid("ExtraVeths '" + veth + "': unknown key '" + key +
                         "' (HostAddress, LocalAddress, HostAddress6, LocalAddress6, HostBridge)");
        }
        options.*(found->second) = value;
    }
    return options;
}

// Decodes one entry into the change it makes; the change runs later, on
// the spec the core holds then.
using Decode = std::function<SpecPatch::Change(const sdbus::Variant&)>;
using Table = std::map<std::string, Decode>;

template <typename T>
void setter(Table& table, const std::string& key, std::function<void(ContainerSpec&, T)> apply) {
    table.emplace(key, [key, apply](const sdbus::Variant& value) -> SpecPatch::Change {
        if (!value.containsValueOfType<T>()) {
            throwInvalid("key '" + key + "' must have type '" + sdbus::signature_of<T>::str() + "', not '" +
                         value.peekValueType() + "'");
        }
        // Decoded (and its sub-keys checked) now, applied later.
        ContainerSpec decoded;
        apply(decoded, value.get<T>());
        return [apply, value = value.get<T>()](ContainerSpec& spec) { apply(spec, value); };
    });
}

Table makeTable() {
    Table table;
    using S = std::string;
    using L = std::vector<std::string>;
    setter<S>(table, "SystemPath", [](ContainerSpec& s, S v) { s.systemPath = std::move(v); });
    setter<S>(table, "Config", [](ContainerSpec& s, S v) { s.config = std::move(v); });
    setter<S>(table, "ConfigFile", [](ContainerSpec& s, S v) { s.configFile = std::move(v); });
    setter<S>(table, "Flake", [](ContainerSpec& s, S v) { s.flake = std::move(v); });
    setter<bool>(table, "PrivateNetwork", [](ContainerSpec& s, bool v) { s.privateNetwork = v; });
    setter<S>(table, "HostAddress", [](ContainerSpec& s, S v) { s.network.hostAddress = std::move(v); });
    setter<S>(table, "LocalAddress", [](ContainerSpec& s, S v) { s.network.localAddress = std::move(v); });
    setter<S>(table, "HostAddress6", [](ContainerSpec& s, S v) { s.network.hostAddress6 = std::move(v); });
    setter<S>(table, "LocalAddress6", [](ContainerSpec& s, S v) { s.network.localAddress6 = std::move(v); });
    setter<S>(table, "HostBridge", [](ContainerSpec& s, S v) { s.network.hostBridge = std::move(v); });
    setter<Ports>(table, "ForwardPorts", [](ContainerSpec& s, Ports v) {
        s.forwardPorts.clear();
        for (const auto& port : v) {
            // 0 means "the host port"; stored explicitly, as the module's mkPortStr does,
            // so an Update that repeats the same ports is no change.
            auto containerPort = port.get<2>() == 0 ? port.get<1>() : port.get<2>();
            s.forwardPorts.push_back({port.get<0>(), port.get<1>(), containerPort});
        }
    });
    setter<Binds>(table, "BindMounts", [](ContainerSpec& s, Binds v) {
        s.bindMounts.clear();
        for (const auto& bind : v) {
            s.bindMounts.push_back({bind.get<0>(), bind.get<1>(), bind.get<2>()});
        }
    });
    setter<L>(table, "Tmpfs", [](ContainerSpec& s, L v) { s.tmpfs = std::move(v); });
    setter<L>(table, "AdditionalCapabilities",
              [](ContainerSpec& s, L v) { s.additionalCapabilities = std::move(v); });
    setter<Devices>(table, "AllowedDevices", [](ContainerSpec& s, Devices v) {
        s.allowedDevices.clear();
        for (const auto& device : v) {
            s.allowedDevices.push_back({device.get<0>(), device.get<1>()});
        }
    });
    setter<bool>(table, "EnableTun", [](ContainerSpec& s, bool v) { s.enableTun = v; });
    setter<bool>(table, "Ephemeral", [](ContainerSpec& s, bool v) { s.ephemeral = v; });
    setter<bool>(table, "AutoStart", [](ContainerSpec& s, bool v) { s.autoStart = v; });
    setter<S>(table, "TimeoutStartSec", [](ContainerSpec& s, S v) { s.timeoutStartSec = std::move(v); });
    setter<Veths>(table, "ExtraVeths", [](ContainerSpec& s, Veths v) {
        s.extraVeths.clear();
        for (const auto& [name, fields] : v) {
            s.extraVeths[name] = vethOptions(name, fields);
        }
    });
    setter<L>(table, "Interfaces", [](ContainerSpec& s, L v) { s.interfaces = std::move(v); });
    setter<L>(table, "Macvlans", [](ContainerSpec& s, L v) { s.macvlans = std::move(v); });
    setter<L>(table, "ExtraFlags", [](ContainerSpec& s, L v) { s.extraFlags = std::move(v); });
    return table;
}

}  // namespace

SpecPatch decodeSpecPatch(const std::map<std::string, sdbus::Variant>& entries) {
    static const Table table = makeTable();
    SpecPatch patch;
    const bool changesSource = entries.contains("SystemPath") || entries.contains("Config") ||
                               entries.contains("ConfigFile") || entries.contains("Flake");
    if (changesSource) {
        // The source is one thing: naming a new one replaces the old.
        patch.set("source", [](ContainerSpec& spec) {
            spec.systemPath.clear();
            spec.config.clear();
            spec.configFile.clear();
            spec.flake.clear();
        });
    }
    for (const auto& [key, value] : entries) {
        auto found = table.find(key);
        if (found == table.end()) {
            throwInvalid("unknown key '" + key + "'");
        }
        patch.set(key, found->second(value));
    }
    return patch;
}

void applySpecEntries(ContainerSpec& spec, const std::map<std::string, sdbus::Variant>& entries) {
    decodeSpecPatch(entries).applyTo(spec);
}

}  // namespace nixos_containers
