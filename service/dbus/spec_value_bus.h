#pragma once

// SpecValue <-> its D-Bus types, one conversion per kind of value: the
// decoder reads Create's and Update's variants with them, the property
// getters write with them. Header-only, so that the fuzz build can compile
// the decoder on its own.

#include "errors.h"
#include "spec_keys.h"

#include <sdbus-c++/Types.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace nixos_containers::bus_values {

using Ports = std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>>;
using BindMounts = std::vector<sdbus::Struct<std::string, std::string, bool>>;
using Devices = std::vector<sdbus::Struct<std::string, std::string>>;
using Veths = std::map<std::string, std::map<std::string, std::string>>;

// The D-Bus type of each SpecKind, in SpecKind's order.
using BusTypes = std::tuple<std::string, bool, std::vector<std::string>, Ports, BindMounts, Devices, Veths>;
template <SpecKind Kind>
using BusTypeOf = std::tuple_element_t<static_cast<std::size_t>(Kind), BusTypes>;

// ---- to the bus

inline const std::string& toBus(const std::string& text) {
    return text;
}
inline bool toBus(bool flag) {
    return flag;
}
inline const std::vector<std::string>& toBus(const std::vector<std::string>& words) {
    return words;
}
inline Ports toBus(const std::vector<PortForward>& ports) {
    Ports rows;
    for (const auto& port : ports) {
        rows.emplace_back(port.protocol, port.hostPort, port.containerPort);
    }
    return rows;
}
inline BindMounts toBus(const std::vector<BindMount>& binds) {
    BindMounts rows;
    for (const auto& bind : binds) {
        rows.emplace_back(bind.mountPoint, bind.hostPath, bind.readOnly);
    }
    return rows;
}
inline Devices toBus(const std::vector<AllowedDevice>& devices) {
    Devices rows;
    for (const auto& device : devices) {
        rows.emplace_back(device.node, device.modifier);
    }
    return rows;
}
inline Veths toBus(const std::map<std::string, NetworkOptions>& veths) {
    Veths map;
    for (const auto& [name, options] : veths) {
        auto& fields = map[name];
        for (const auto& field : networkOptionFields()) {
            fields[std::string(field.name)] = options.*field.member;
        }
    }
    return map;
}

// A value as the D-Bus type `BusType` a property getter returns.
template <typename BusType>
BusType toBusAs(const SpecValue& value) {
    return std::visit(
        [](const auto& alternative) -> BusType {
            using Converted = std::remove_cvref_t<decltype(toBus(alternative))>;
            if constexpr (std::is_same_v<Converted, BusType>) {
                return toBus(alternative);
            } else {
                // A getter declared with another type than its row's kind;
                // spec_keys_test holds the rows to the XML the getters come from.
                throw std::logic_error("a spec value read as the wrong D-Bus type");
            }
        },
        value);
}

inline sdbus::Variant toBusVariant(const SpecValue& value) {
    return std::visit([](const auto& alternative) { return sdbus::Variant(toBus(alternative)); }, value);
}

// ---- from the bus; `key` names the key in errors

inline SpecValue fromBus(const SpecKey& /*key*/, const std::string& text) {
    return text;
}
inline SpecValue fromBus(const SpecKey& /*key*/, bool flag) {
    return flag;
}
inline SpecValue fromBus(const SpecKey& /*key*/, const std::vector<std::string>& words) {
    return words;
}
inline SpecValue fromBus(const SpecKey& /*key*/, const Ports& rows) {
    std::vector<PortForward> ports;
    for (const auto& row : rows) {
        ports.push_back({row.get<0>(), row.get<1>(), row.get<2>()});
    }
    return ports;
}
inline SpecValue fromBus(const SpecKey& /*key*/, const BindMounts& rows) {
    std::vector<BindMount> binds;
    for (const auto& row : rows) {
        binds.push_back({row.get<0>(), row.get<1>(), row.get<2>()});
    }
    return binds;
}
inline SpecValue fromBus(const SpecKey& /*key*/, const Devices& rows) {
    std::vector<AllowedDevice> devices;
    for (const auto& row : rows) {
        devices.push_back({row.get<0>(), row.get<1>()});
    }
    return devices;
}
inline SpecValue fromBus(const SpecKey& key, const Veths& map) {
    std::map<std::string, NetworkOptions> veths;
    for (const auto& [name, fields] : map) {
        auto& options = veths[name];
        for (const auto& [field, value] : fields) {
            const auto known = networkOptionFields();
            auto found = std::find_if(known.begin(), known.end(), [&field = field](const auto& candidate) {
                return candidate.name == field;
            });
            if (found == known.end()) {
                std::string names;
                for (const auto& candidate : known) {
                    names += (names.empty() ? "" : ", ") + std::string(candidate.name);
                }
                throwInvalid(std::string(key.busName) + " '" + name + "': unknown key '" + field + "' (" +
                             names + ")");
            }
            options.*(found->member) = value;
        }
    }
    return veths;
}

// Reads `value` as the D-Bus type of kind `Kind`.
template <SpecKind Kind>
SpecValue fromBusAs(const SpecKey& key, const sdbus::Variant& value) {
    using BusType = BusTypeOf<Kind>;
    if (!value.containsValueOfType<BusType>()) {
        throwInvalid("key '" + std::string(key.busName) + "' must have type '" +
                     sdbus::signature_of<BusType>::str() + "', not '" + value.peekValueType() + "'");
    }
    return fromBus(key, value.get<BusType>());
}

// Reads `value` as `key`'s kind; throws ContainerError(InvalidArgument)
// naming the key and both types when it is another.
inline SpecValue fromBusVariant(const SpecKey& key, const sdbus::Variant& value) {
    switch (key.kind) {
        case SpecKind::String:
            return fromBusAs<SpecKind::String>(key, value);
        case SpecKind::Flag:
            return fromBusAs<SpecKind::Flag>(key, value);
        case SpecKind::Words:
            return fromBusAs<SpecKind::Words>(key, value);
        case SpecKind::Ports:
            return fromBusAs<SpecKind::Ports>(key, value);
        case SpecKind::BindMounts:
            return fromBusAs<SpecKind::BindMounts>(key, value);
        case SpecKind::Devices:
            return fromBusAs<SpecKind::Devices>(key, value);
        case SpecKind::Veths:
            return fromBusAs<SpecKind::Veths>(key, value);
    }
    throw std::logic_error("unknown spec value kind");
}

}  // namespace nixos_containers::bus_values
