#include "spec_decoder.h"

#include "errors.h"
#include "spec_keys.h"
#include "spec_value_bus.h"

#include <algorithm>

namespace nixos_containers {

SpecPatch decodeSpecPatch(const std::map<std::string, sdbus::Variant>& entries) {
    SpecPatch patch;
    const bool changesSource = std::any_of(entries.begin(), entries.end(), [](const auto& entry) {
        const auto* key = findSpecKey(entry.first);
        return key != nullptr && key->systemSource;
    });
    if (changesSource) {
        // The source is one thing: naming a new one replaces the old.
        patch.prepare([](ContainerSpec& spec) {
            for (const auto& key : specKeys()) {
                if (key.systemSource) {
                    key.set(spec, key.defaultValue());
                }
            }
        });
    }
    for (const auto& [name, value] : entries) {
        const auto* key = findSpecKey(name);
        if (key == nullptr) {
            throwInvalid("unknown key '" + name + "'");
        }
        // Decoded (and its sub-keys checked) now, applied later.
        patch.set(name, [key, decoded = bus_values::fromBusVariant(*key, value)](ContainerSpec& spec) {
            key->set(spec, decoded);
        });
    }
    return patch;
}

void applySpecEntries(ContainerSpec& spec, const std::map<std::string, sdbus::Variant>& entries) {
    decodeSpecPatch(entries).applyTo(spec);
}

}  // namespace nixos_containers
