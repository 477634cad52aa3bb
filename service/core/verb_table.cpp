#include "verb_table.h"

#include "container_verbs.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace nixos_containers {

namespace {
constexpr std::string_view kManage = "org.nixos.containers.manage";
constexpr std::string_view kDestroy = "org.nixos.containers.destroy";

// Sized by kVerbCount, not by its rows: a verb left without a row leaves a
// value-initialised row behind, which everyVerbHasItsRow() rejects.
constexpr std::array<VerbRow, kVerbCount> kVerbRows = {{
    {Verb::Start, {"start", kManage}, true, false, true, false, startContainer},
    {Verb::Stop, {"stop", kManage}, true, true, false, false, stopContainer},
    {Verb::Restart, {"restart", kManage}, true, false, true, false, restartContainer},
    {Verb::Terminate, {"terminate", kManage}, true, true, false, false, terminateContainer},
    // Cancellable: its switch-to-configuration may never end.
    {Verb::Reload, {"reload", kManage}, true, false, true, true, reloadContainer},
    // Changes what the container runs, as an Update does.
    {Verb::Rollback, {"rollback", kUpdatePolicy.action}, false, false, false, false, rollbackContainer},
    {Verb::Destroy, {"destroy", kDestroy}, false, false, false, false, destroyContainer},
    // Rollback to a generation the caller names (a `generation` detail).
    {Verb::SwitchGeneration,
     {"switch-generation", kUpdatePolicy.action},
     false,
     false,
     false,
     false,
     switchContainerGeneration},
    // A declarative container's Update is the declarative set's alone
    // (updatedSpec); Create makes the container, declarative or not.
    {Verb::Create, kCreatePolicy, true, false, false, false, createContainer},
    {Verb::Update, kUpdatePolicy, false, false, false, false, updateContainer},
}};

constexpr bool everyVerbHasItsRow() {
    for (std::size_t index = 0; index < kVerbRows.size(); ++index) {
        const auto& row = kVerbRows[index];
        // Not `body`: a function's address is no constant expression under
        // the sanitizers; a missing row already fails on its empty name, and
        // verb_table_test checks every body.
        if (row.verb != static_cast<Verb>(index) || row.policy.name.empty() || row.policy.action.empty()) {
            return false;
        }
    }
    return true;
}
static_assert(everyVerbHasItsRow(), "kVerbRows needs one complete row per Verb, in enum order");
}  // namespace

std::span<const VerbRow, kVerbCount> verbTable() {
    return kVerbRows;
}

const VerbRow& verbRow(Verb verb) {
    const auto index = static_cast<std::size_t>(verb);
    if (index >= kVerbRows.size()) {
        throw std::out_of_range("no verb row for Verb value " + std::to_string(index));
    }
    return kVerbRows[index];
}

const VerbRow* verbRowNamed(std::string_view name) {
    auto found = std::find_if(kVerbRows.begin(), kVerbRows.end(),
                              [name](const VerbRow& row) { return row.policy.name == name; });
    return found == kVerbRows.end() ? nullptr : &*found;
}

std::string_view toString(Verb verb) {
    return verbRow(verb).policy.name;
}

std::string methodOfVerb(std::string_view name) {
    std::string method;
    bool wordStarts = true;
    for (const char c : name) {
        if (c == '-') {
            wordStarts = true;
            continue;
        }
        method += wordStarts && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
        wordStarts = false;
    }
    return method;
}

}  // namespace nixos_containers
