#pragma once

#include "container_spec.h"
#include "operation_scheduler.h"
#include "spec_patch.h"
#include "verb_context.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace nixos_containers {

// The verbs' bodies, one file each. Each runs on the loop with its
// container held by `operation` and answers `next` exactly once.

// start_verb.cpp: the module's pre-start, the network, then the unit.
void startContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// stop_verb.cpp
void stopContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
void terminateContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// restart_verb.cpp
void restartContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// reload_verb.cpp: switch-to-configuration test inside.
void reloadContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// rollback_verb.cpp: the profile's previous generation (nix-env --rollback),
// then a reload when it runs.
void rollbackContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// The same to generation GENERATION (nix-env --switch-generation).
void switchContainerGeneration(VerbContext& context, const OperationPtr& operation, std::uint32_t generation,
                               StatusCallback next);
// destroy_verb.cpp: stop, then conf, root, profile and gcroots.
void destroyContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);
// A declarative container the set no longer names: stopped, its conf
// removed, forgotten. Its root and profile stay, as nixpkgs' module keeps
// /var/lib/nixos-containers/NAME: declaring it again finds its data.
void forgetContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next);

// How the declarative set's change of a container (declarative_apply.cpp)
// differs from a caller's Update: it may change a declarative container,
// keeps a restart for the next start when restartIfChanged is false, and
// learns what it did to the running container.
struct DeclaredChange {
    bool restartIfChanged = true;
    // Called once, before the answer, when the change was saved: what it asked
    // of the container, and whether a restart it asked for was kept for later.
    std::function<void(UpdateEffect effect, bool restartKept)> applied;
};
using DeclaredChangePtr = std::shared_ptr<const DeclaredChange>;

// create_verb.cpp: after authorisation; reserves, builds or links, writes
// the conf, publishes. Answers `done` with the name, exactly once. A
// declared container is marked so in its conf (kDeclarativeConfKey).
void createContainer(VerbContext& context, const Caller& caller, const std::string& name, ContainerSpec spec,
                     const Callback<std::string>& done, bool declared = false);
// update_verb.cpp: a private network `spec` gives no addresses keeps the
// ones it had in `before` (copied into `spec`); false when it has none to keep.
bool keepsItsAddresses(const ContainerSpec& before, ContainerSpec& spec);
// The new spec (the patch on the spec as it is), validated;
// throws NoSuchContainer, Declarative (unless `declared`), InvalidArgument.
ContainerSpec updatedSpec(const VerbContext& context, const std::string& name, const SpecPatch& patch,
                          bool declared = false);
// After authorisation: merges, saves, then reloads or restarts a running
// container. `declared`: the declarative set's change (else a caller's).
void updateContainer(VerbContext& context, const Caller& caller, const std::string& name,
                     const SpecPatch& patch, const StatusCallback& done,
                     DeclaredChangePtr declared = nullptr);

// The answer of a start that a Stop or Terminate cancelled.
ContainerError cancelledError(const Operation& operation);
// The answer of a Create or Start whose name a machine this service did not
// start holds (AlreadyExists, naming the machine's unit).
ContainerError foreignMachineError(const std::string& name, const std::string& unit);

}  // namespace nixos_containers
