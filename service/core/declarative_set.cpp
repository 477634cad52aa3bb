#include "declarative_set.h"

#include "container_json.h"
#include "errors.h"
#include "validation.h"

#include <nlohmann/json.hpp>

namespace nixos_containers {

namespace {

DeclaredContainer declared(const std::string& name, const nlohmann::json& entry) {
    DeclaredContainer container;
    container.name = name;
    try {
        validateName(name);
        if (!entry.is_object()) {
            throwInvalid("its entry must be an object with \"Spec\"");
        }
        for (const auto& [field, value] : entry.items()) {
            if (field == "Spec") {
                container.spec = specFromJson(value);
            } else if (field == "RestartIfChanged") {
                if (!value.is_boolean()) {
                    throwInvalid("RestartIfChanged must be true or false");
                }
                container.restartIfChanged = value.get<bool>();
            } else {
                throwInvalid("unknown field '" + field + "' (Spec, RestartIfChanged)");
            }
        }
        if (!entry.contains("Spec")) {
            throwInvalid("its entry has no \"Spec\"");
        }
    } catch (const ContainerError& error) {
        container.spec = {};
        container.problem = error.what();
    }
    return container;
}

}  // namespace

std::vector<DeclaredContainer> parseDeclarativeSet(std::string_view text) {
    if (text.size() > kMaxDeclarativeSetBytes) {
        throw ContainerError(
            ErrorCode::LimitsExceeded,
            "the declarative set is larger than " + std::to_string(kMaxDeclarativeSetBytes) + " bytes");
    }
    const auto document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded()) {
        throwInvalid("the declarative set is not JSON");
    }
    if (!document.is_object() || !document.contains("Containers") || !document["Containers"].is_object()) {
        throwInvalid("the declarative set must be an object with a \"Containers\" object");
    }
    for (const auto& [field, value] : document.items()) {
        if (field != "Containers") {
            throwInvalid("the declarative set has an unknown field '" + field + "' (Containers)");
        }
    }
    std::vector<DeclaredContainer> containers;
    for (const auto& [name, entry] : document["Containers"].items()) {
        containers.push_back(declared(name, entry));
    }
    return containers;  // nlohmann's objects iterate in key order
}

}  // namespace nixos_containers
