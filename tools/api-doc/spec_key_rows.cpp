// spec-key-rows: the spec keys' rows (service/core/spec_keys.cpp) as JSON,
// for gen_api_doc.py, so docs/api.md lists the keys the core has, not a
// copy of them.
#include "container.h"
#include "container_json.h"
#include "spec_keys.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>

namespace nc = nixos_containers;

int main() {
    // A container with every key at its default, shown as Inspect shows it.
    const auto shown = nc::toJson(nc::Container{});
    auto rows = nlohmann::json::array();
    for (const auto& key : nc::specKeys()) {
        const std::string name(key.busName);
        rows.push_back({
            {"name", name},
            {"type", std::string(nc::busSignature(key.kind))},
            {"default", shown.contains(name) ? shown.at(name) : nlohmann::json()},
            {"confKey", std::string(key.confKey)},
            {"onChange", std::string(nc::updateEffectWord(nc::updateEffectOf(key)))},
            {"systemSource", key.systemSource},
            {"asksHost", key.asksHost != nullptr},
            {"validated", key.validate != nullptr},
            {"secret", key.secret},
            {"maxBytes", key.maxBytes},
        });
    }
    std::cout << rows.dump(2) << "\n";
    return 0;
}
