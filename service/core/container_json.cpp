#include "container_json.h"

#include "errors.h"
#include "spec_keys.h"

#include <algorithm>
#include <array>
#include <limits>
#include <span>
#include <string_view>

namespace nixos_containers {

namespace {

// One conversion per kind of spec value; the keys come from the rows.
nlohmann::json toJson(const std::string& text) {
    return text;
}
nlohmann::json toJson(bool flag) {
    return flag;
}
nlohmann::json toJson(const std::vector<std::string>& words) {
    return words;
}
nlohmann::json toJson(const std::vector<PortForward>& ports) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& port : ports) {
        rows.push_back({{"Protocol", port.protocol},
                        {"HostPort", port.hostPort},
                        {"ContainerPort", port.containerPort}});
    }
    return rows;
}
nlohmann::json toJson(const std::vector<BindMount>& binds) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& bind : binds) {
        rows.push_back(
            {{"MountPoint", bind.mountPoint}, {"HostPath", bind.hostPath}, {"ReadOnly", bind.readOnly}});
    }
    return rows;
}
nlohmann::json toJson(const std::vector<AllowedDevice>& devices) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& device : devices) {
        rows.push_back({{"Node", device.node}, {"Modifier", device.modifier}});
    }
    return rows;
}
nlohmann::json toJson(const std::vector<Generation>& generations) {
    auto json = nlohmann::json::array();
    for (const auto& generation : generations) {
        json.push_back({{"Number", generation.number},
                        {"System", generation.system},
                        {"Created", generation.createdUsec},
                        {"Current", generation.current}});
    }
    return json;
}

nlohmann::json toJson(const std::map<std::string, NetworkOptions>& veths) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& [name, options] : veths) {
        auto& fields = object[name] = nlohmann::json::object();
        for (const auto& field : networkOptionFields()) {
            fields[std::string(field.name)] = options.*field.member;
        }
    }
    return object;
}

// ---- from JSON, the inverse of the conversions above; `key` names the key
// in errors, and every row's field must be given as toJson writes it.

[[noreturn]] void wrongJson(const SpecKey& key, const std::string& what) {
    throwInvalid("key '" + std::string(key.busName) + "': " + what);
}

const nlohmann::json& fieldOf(const SpecKey& key, const nlohmann::json& row,
                              std::span<const std::string_view> fields, std::string_view field) {
    if (!row.is_object()) {
        wrongJson(key, "each entry must be an object");
    }
    for (const auto& [name, value] : row.items()) {
        if (std::find(fields.begin(), fields.end(), name) == fields.end()) {
            wrongJson(key, "unknown field '" + name + "'");
        }
    }
    auto found = row.find(std::string(field));
    if (found == row.end()) {
        wrongJson(key, "an entry has no '" + std::string(field) + "'");
    }
    return *found;
}

std::string stringIn(const SpecKey& key, const nlohmann::json& value, std::string_view what) {
    if (!value.is_string()) {
        wrongJson(key, std::string(what) + " must be a string");
    }
    return value.get<std::string>();
}

std::uint16_t portIn(const SpecKey& key, const nlohmann::json& value, std::string_view what) {
    if (!value.is_number_unsigned() ||
        value.get<std::uint64_t>() > std::numeric_limits<std::uint16_t>::max()) {
        wrongJson(key, std::string(what) + " must be a port number (0 to 65535)");
    }
    return static_cast<std::uint16_t>(value.get<std::uint64_t>());
}

const nlohmann::json& arrayIn(const SpecKey& key, const nlohmann::json& value) {
    if (!value.is_array()) {
        wrongJson(key, "must be an array");
    }
    return value;
}

std::vector<std::string> wordsFromJson(const SpecKey& key, const nlohmann::json& value) {
    std::vector<std::string> words;
    for (const auto& word : arrayIn(key, value)) {
        words.push_back(stringIn(key, word, "each entry"));
    }
    return words;
}

std::vector<PortForward> portsFromJson(const SpecKey& key, const nlohmann::json& value) {
    std::vector<PortForward> ports;
    for (const auto& row : arrayIn(key, value)) {
        static constexpr auto kFields =
            std::to_array<std::string_view>({"Protocol", "HostPort", "ContainerPort"});
        PortForward port;
        port.protocol = stringIn(key, fieldOf(key, row, kFields, "Protocol"), "Protocol");
        port.hostPort = portIn(key, fieldOf(key, row, kFields, "HostPort"), "HostPort");
        if (row.contains("ContainerPort")) {
            port.containerPort = portIn(key, row["ContainerPort"], "ContainerPort");
        }
        ports.push_back(std::move(port));
    }
    return ports;
}

std::vector<BindMount> bindsFromJson(const SpecKey& key, const nlohmann::json& value) {
    std::vector<BindMount> binds;
    for (const auto& row : arrayIn(key, value)) {
        static constexpr auto kFields =
            std::to_array<std::string_view>({"MountPoint", "HostPath", "ReadOnly"});
        BindMount bind;
        bind.mountPoint = stringIn(key, fieldOf(key, row, kFields, "MountPoint"), "MountPoint");
        if (row.contains("HostPath")) {
            bind.hostPath = stringIn(key, row["HostPath"], "HostPath");
        }
        if (row.contains("ReadOnly")) {
            if (!row["ReadOnly"].is_boolean()) {
                wrongJson(key, "ReadOnly must be true or false");
            }
            bind.readOnly = row["ReadOnly"].get<bool>();
        }
        binds.push_back(std::move(bind));
    }
    return binds;
}

std::vector<AllowedDevice> devicesFromJson(const SpecKey& key, const nlohmann::json& value) {
    std::vector<AllowedDevice> devices;
    for (const auto& row : arrayIn(key, value)) {
        static constexpr auto kFields = std::to_array<std::string_view>({"Node", "Modifier"});
        devices.push_back({stringIn(key, fieldOf(key, row, kFields, "Node"), "Node"),
                           stringIn(key, fieldOf(key, row, kFields, "Modifier"), "Modifier")});
    }
    return devices;
}

std::map<std::string, NetworkOptions> vethsFromJson(const SpecKey& key, const nlohmann::json& value) {
    if (!value.is_object()) {
        wrongJson(key, "must be an object of veth names");
    }
    std::map<std::string, NetworkOptions> veths;
    const auto known = networkOptionFields();
    for (const auto& [name, fields] : value.items()) {
        if (!fields.is_object()) {
            wrongJson(key, "veth '" + name + "' must be an object");
        }
        auto& options = veths[name];
        for (const auto& [field, text] : fields.items()) {
            auto found = std::find_if(known.begin(), known.end(),
                                      [&field = field](const auto& row) { return row.name == field; });
            if (found == known.end()) {
                wrongJson(key, "veth '" + name + "': unknown field '" + field + "'");
            }
            options.*(found->member) = stringIn(key, text, field);
        }
    }
    return veths;
}

SpecValue fromJson(const SpecKey& key, const nlohmann::json& value) {
    switch (key.kind) {
        case SpecKind::String:
            return stringIn(key, value, "the value");
        case SpecKind::Flag:
            if (!value.is_boolean()) {
                wrongJson(key, "must be true or false");
            }
            return value.get<bool>();
        case SpecKind::Words:
            return wordsFromJson(key, value);
        case SpecKind::Ports:
            return portsFromJson(key, value);
        case SpecKind::BindMounts:
            return bindsFromJson(key, value);
        case SpecKind::Devices:
            return devicesFromJson(key, value);
        case SpecKind::Veths:
            return vethsFromJson(key, value);
    }
    throw std::logic_error("unknown spec value kind");
}

}  // namespace

ContainerSpec specFromJson(const nlohmann::json& object) {
    if (!object.is_object()) {
        throwInvalid("a spec must be a JSON object of spec keys");
    }
    ContainerSpec spec;
    for (const auto& [name, value] : object.items()) {
        const auto* key = findSpecKey(name);
        if (key == nullptr) {
            throwInvalid("unknown key '" + name + "'");
        }
        key->set(spec, fromJson(*key, value));
    }
    return spec;
}

nlohmann::json specToJson(const ContainerSpec& spec) {
    auto json = nlohmann::json::object();
    for (const auto& key : specKeys()) {
        json[std::string(key.busName)] =
            std::visit([](const auto& value) { return toJson(value); }, key.get(spec));
    }
    return json;
}

nlohmann::json toJson(const Container& container, bool withSecrets) {
    nlohmann::json json = {
        {"Name", container.name},
        {"State", std::string(toString(container.state))},
        {"UnitResult", container.unitResult},
        {"Broken", container.broken},
        {"Generations", toJson(container.generations)},
        {"Declarative", container.declarative},
        {"Unit", container.unit},
        {"Owner", container.owner},
        {"Leader", container.leader},
        {"HostInterface", container.hostInterface},
        {"RootDirectory", container.root.string()},
        {"Addresses", container.addresses},
        {"Operation", container.operation},
        // A failed build's error quotes its output, which can hold secrets.
        {"LastError", withSecrets ? container.lastError : std::string()},
    };
    auto redacted = nlohmann::json::array();
    if (!withSecrets) {
        redacted.push_back("LastError");
    }
    for (const auto& key : specKeys()) {
        json[std::string(key.busName)] = std::visit([](const auto& value) { return toJson(value); },
                                                    shownValue(key, container, withSecrets));
        if (key.secret && !withSecrets) {
            redacted.push_back(std::string(key.busName));
        }
    }
    json["Redacted"] = std::move(redacted);
    return json;
}

}  // namespace nixos_containers
