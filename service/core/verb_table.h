#pragma once

#include "operation_scheduler.h"
#include "verb_context.h"

#include <array>
#include <functional>
#include <string_view>

namespace nixos_containers {

// The verbs that act on an existing container and carry no arguments.
enum class Verb { Start, Stop, Restart, Terminate, Reload, Rollback, Destroy };

// How polkit sees a verb: its name (the `verb` detail) and its action.
struct VerbPolicy {
    std::string_view name;
    std::string_view action;
};
inline constexpr VerbPolicy kCreatePolicy{"create", "org.nixos.containers.create"};
inline constexpr VerbPolicy kUpdatePolicy{"update", "org.nixos.containers.update"};
// The whole declarative set (NixOS's configuration) at once: root's alone by
// default, as everything it may declare is.
inline constexpr VerbPolicy kApplyDeclarativePolicy{"apply-declarative",
                                                    "org.nixos.containers.apply-declarative"};
// Asked besides create or update when the spec asks for the host
// (SpecKey::asksHost), with the keys named in the `keys` detail.
inline constexpr std::string_view kHostAccessAction = "org.nixos.containers.host-access";
// Into the container: not operations (they do not take the container).
inline constexpr VerbPolicy kRunPolicy{"run", "org.nixos.containers.run"};
inline constexpr VerbPolicy kShellPolicy{"shell", "org.nixos.containers.shell"};
inline constexpr VerbPolicy kLoginPolicy{"login", "org.nixos.containers.login"};

// The calls into a container: a method of both interfaces each, with its
// own polkit action.
struct ContainerCall {
    std::string_view method;
    VerbPolicy policy;
};
inline constexpr std::array<ContainerCall, 3> kContainerCalls = {{
    {"Run", kRunPolicy},
    {"OpenShell", kShellPolicy},
    {"OpenLogin", kLoginPolicy},
}};

using VerbBody = void (*)(VerbContext& context, const OperationPtr& operation, StatusCallback next);

// One row per verb; ContainerManager::perform reads nothing else.
struct VerbRow {
    Verb verb;
    VerbPolicy policy;
    bool onDeclarative;  // false: Declarative for a declarative container
    bool cancelsStart;   // while the container starts or reloads, cancels that and runs after it
    bool cancellable;    // a start or reload that a cancelsStart verb cancels
    // Runs a command in the container as its root (Reload): host access too
    // when the container's users are the host's (authorizeEntry).
    bool entersContainer;
    VerbBody body;
};

const VerbRow& verbRow(Verb verb);
// The row of the verb an operation runs; null for Create and Update.
const VerbRow* verbRowNamed(std::string_view name);
// Every row, for tests that hold them against the polkit policy and the XML.
const std::vector<VerbRow>& verbTable();
std::string_view toString(Verb verb);

}  // namespace nixos_containers
