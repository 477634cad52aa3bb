#include "verb_table.h"

#include "container_verbs.h"

#include <algorithm>

namespace nixos_containers {

namespace {
constexpr std::string_view kManage = "org.nixos.containers.manage";
constexpr std::string_view kDestroy = "org.nixos.containers.destroy";
}  // namespace

const std::vector<VerbRow>& verbTable() {
    static const std::vector<VerbRow> rows = {
        {Verb::Start, {"start", kManage}, true, false, true, false, startContainer},
        {Verb::Stop, {"stop", kManage}, true, true, false, false, stopContainer},
        {Verb::Restart, {"restart", kManage}, true, false, true, false, restartContainer},
        {Verb::Terminate, {"terminate", kManage}, true, true, false, false, terminateContainer},
        // Cancellable: its switch-to-configuration may never end.
        {Verb::Reload, {"reload", kManage}, true, false, true, true, reloadContainer},
        // Changes what the container runs, as an Update does.
        {Verb::Rollback, {"rollback", kUpdatePolicy.action}, false, false, false, false, rollbackContainer},
        {Verb::Destroy, {"destroy", kDestroy}, false, false, false, false, destroyContainer},
    };
    return rows;
}

const VerbRow& verbRow(Verb verb) {
    const auto& rows = verbTable();
    return *std::find_if(rows.begin(), rows.end(), [verb](const VerbRow& row) { return row.verb == verb; });
}

const VerbRow* verbRowNamed(std::string_view name) {
    const auto& rows = verbTable();
    auto found = std::find_if(rows.begin(), rows.end(),
                              [name](const VerbRow& row) { return row.policy.name == name; });
    return found == rows.end() ? nullptr : &*found;
}

std::string_view toString(Verb verb) {
    return verbRow(verb).policy.name;
}

}  // namespace nixos_containers
