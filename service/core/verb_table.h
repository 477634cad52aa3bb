#pragma once

#include "container_verbs.h"
#include "operation_scheduler.h"
#include "verb_context.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace nixos_containers {

// The operations on a container: those that act on an existing one and
// carry no arguments, SwitchGeneration (a generation's number), then Create
// and Update, which carry a spec or a patch. Values count from 0 with no
// gaps: the table is indexed by them.
enum class Verb {
    Start,
    Stop,
    Restart,
    Terminate,
    Reload,
    Rollback,
    Destroy,
    SwitchGeneration,
    Create,
    Update
};

// Every value of Verb, with no default: -Wswitch (an error here) names a value
// added to the enum and left out below, so kVerbCount cannot go stale.
constexpr bool isVerb(Verb verb) {
    switch (verb) {
        case Verb::Start:
        case Verb::Stop:
        case Verb::Restart:
        case Verb::Terminate:
        case Verb::Reload:
        case Verb::Rollback:
        case Verb::Destroy:
        case Verb::SwitchGeneration:
        case Verb::Create:
        case Verb::Update:
            return true;
    }
    return false;
}

constexpr std::size_t countVerbs() {
    std::size_t count = 0;
    while (isVerb(static_cast<Verb>(count))) {
        ++count;
    }
    return count;
}
inline constexpr std::size_t kVerbCount = countVerbs();

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
// The container's journal (ContainerLogs): read from the host, not an entry.
inline constexpr VerbPolicy kLogsPolicy{"logs", "org.nixos.containers.logs"};

// The calls into a container, and OpenLogs beside them: a method of both
// interfaces each, with its own polkit action, and no operation.
struct ContainerCall {
    std::string_view method;
    VerbPolicy policy;
    // Authorised as an entry (authorizeEntry): host access too when the
    // container runs with the host's users.
    bool entersContainer = false;
    // Its polkit details name the user and the command (root and none when
    // the caller gives neither).
    bool namesUserAndCommand = false;
};
inline constexpr auto kContainerCalls = std::to_array<ContainerCall>({
    {"Run", kRunPolicy, true, true},
    {"OpenShell", kShellPolicy, true, true},
    {"OpenLogin", kLoginPolicy, true, false},
    {"OpenLogs", kLogsPolicy, false, false},
});

// An argument-free verb's body: runs once ContainerManager::perform has
// taken the container for it.
using VerbBody = void (*)(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// SwitchGeneration's: the generation is checked before the operation takes
// the container (ContainerManager::switchGeneration).
using GenerationBody = void (*)(VerbContext& context, const OperationPtr& operation, std::uint32_t generation,
                                StatusCallback next);
// Create and Update carry a spec or a patch and take their container
// themselves, after the checks and holds only they make
// (ContainerManager::create and update, the declarative set).
using CreateBody = void (*)(VerbContext& context, const Caller& caller, const std::string& name,
                            ContainerSpec spec, const Callback<std::string>& done, bool declared);
using UpdateBody = void (*)(VerbContext& context, const Caller& caller, const std::string& name,
                            const SpecPatch& patch, const StatusCallback& done, DeclaredChangePtr declared);
using AnyVerbBody = std::variant<VerbBody, GenerationBody, CreateBody, UpdateBody>;

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
    AnyVerbBody body;
};

// The row of every Verb (the table holds one per value, in enum order, which
// verb_table.cpp asserts at compile time). A value outside the enum (only a
// cast can make one) throws std::out_of_range.
const VerbRow& verbRow(Verb verb);
// The row of the verb an operation runs; null for a name no row has (a
// declarative container's "forget", the calls into a container).
const VerbRow* verbRowNamed(std::string_view name);
// Every row, for tests that hold them against the polkit policy and the XML.
std::span<const VerbRow, kVerbCount> verbTable();
std::string_view toString(Verb verb);
// The D-Bus method of a verb or call named `name` ("switch-generation":
// "SwitchGeneration").
std::string methodOfVerb(std::string_view name);

}  // namespace nixos_containers
