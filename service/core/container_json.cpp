#include "container_json.h"

#include "spec_keys.h"

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

}  // namespace

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
