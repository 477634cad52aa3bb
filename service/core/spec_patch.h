#pragma once

#include "container_spec.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace nixos_containers {

// A caller's change to a spec, as decoded from Create's or Update's a{sv}:
// the keys it names, each with the change it makes. The core applies it to
// the spec it holds at the moment it acts (after authorisation), so two
// Updates of different keys never undo each other.
class SpecPatch {
public:
    using Change = std::function<void(ContainerSpec&)>;

    // `key` is the key's bus name, for messages and authorisation details.
    void set(std::string key, Change change) { changes_.emplace_back(std::move(key), std::move(change)); }
    // A step that names no key of its own (clearing the old system source
    // before a new one is set): applied in order, never listed by keys().
    void prepare(Change change) { changes_.emplace_back(std::string(), std::move(change)); }
    void applyTo(ContainerSpec& spec) const {
        for (const auto& [key, change] : changes_) {
            change(spec);
        }
    }
    [[nodiscard]] ContainerSpec appliedTo(ContainerSpec spec) const {
        applyTo(spec);
        return spec;
    }
    [[nodiscard]] std::vector<std::string> keys() const {
        std::vector<std::string> names;
        names.reserve(changes_.size());
        for (const auto& change : changes_) {
            if (!change.first.empty()) {
                names.push_back(change.first);
            }
        }
        return names;
    }
    [[nodiscard]] bool empty() const { return changes_.empty(); }

private:
    std::vector<std::pair<std::string, Change>> changes_;
};

}  // namespace nixos_containers
