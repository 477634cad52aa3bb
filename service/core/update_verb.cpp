#include "address_pool.h"
#include "container_paths.h"
#include "container_verbs.h"
#include "network_plan.h"
#include "unit_limits.h"
#include "validation.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

// What an applied Update may change.
const ContainerFields kUpdatedFields = {ContainerField::Spec, ContainerField::HostInterface,
                                        ContainerField::RootDirectory, ContainerField::Addresses,
                                        ContainerField::Generations};

// A private network without addresses keeps the pair it has, or gets one.
void assignAddresses(VerbContext& context, const ContainerSpec& before, ContainerSpec& spec) {
    if (!spec.privateNetwork || spec.network.hasAddress() || !spec.network.hostBridge.empty() ||
        keepsItsAddresses(before, spec)) {
        return;
    }
    spec.network = context.registry.addresses().allocate();
    context.registry.addresses().release(spec.network);
}

// The running container follows its new spec: nothing, its unit's new
// limits, a reload (after the limits), or a restart (whose new unit has them).
void applyToRunning(VerbContext& context, const OperationPtr& operation, const ContainerSpec& before,
                    const ContainerSpec& spec, const DeclaredChangePtr& declared) {
    const auto& name = operation->name;
    auto& container = context.registry.at(name);
    const bool running = container.state == ContainerState::Running;
    auto effect = running ? classifyUpdate(before, spec) : UpdateEffect::None;
    if (spec.needsBuild() && running && effect < UpdateEffect::Reload) {
        effect = UpdateEffect::Reload;  // a rebuild may have changed the system
    }
    const bool restartKept = effect == UpdateEffect::Restart && declared && !declared->restartIfChanged;
    if (declared && declared->applied) {
        declared->applied(effect, restartKept);
    }
    if (restartKept) {
        // The module's restartIfChanged = false: the running container is left
        // as it is, and its next start runs the saved spec. Its limits are the
        // unit's, not the container's, and are still set live.
        effect = UpdateEffect::None;
    }
    auto finishWith = [&context, operation](Status status) {
        context.operations.finish(operation, std::move(status));
    };
    auto limits = running ? changedUnitLimits(before, spec) : std::vector<UnitProperty>{};
    if (effect != UpdateEffect::Restart && !limits.empty()) {
        // Only the limits are in the conf already: a failure says so.
        context.systemd.setUnitProperties(
            container.unit, limits, [&context, operation, effect, finishWith](const Status& set) {
                if (!set.ok()) {
                    finishWith(ContainerError(
                        set.error().code(), std::string(set.error().what()) +
                                                "; the new limits are saved and apply from the next start"));
                    return;
                }
                if (effect == UpdateEffect::Reload) {
                    reloadContainer(context, operation, finishWith);
                } else {
                    finishWith(Done{});
                }
            });
        return;
    }
    switch (effect) {
        case UpdateEffect::None:
        case UpdateEffect::Live:
            finishWith(Done{});
            return;
        case UpdateEffect::Reload:
            reloadContainer(context, operation, finishWith);
            return;
        case UpdateEffect::Restart:
            // The old network plan must go with the old container.
            container.spec = before;
            stopContainer(context, operation, [&context, operation, spec, finishWith](const Status& stopped) {
                context.registry.at(operation->name).spec = spec;
                if (!stopped.ok()) {
                    finishWith(stopped);
                    return;
                }
                startContainer(context, operation, finishWith);
            });
            return;
    }
}

void applyUpdate(VerbContext& context, const OperationPtr& operation, const ContainerSpec& before,
                 const ContainerSpec& spec, const DeclaredChangePtr& declared) {
    auto& container = context.registry.at(operation->name);
    context.registry.addresses().forget(before);  // the new ones were noted when the update began
    container.spec = spec;
    context.registry.derive(container);
    if (container.state != ContainerState::Running) {
        container.addresses = plannedContainerAddresses(spec);
    }
    context.registry.changed(container, kUpdatedFields);
    applyToRunning(context, operation, before, spec, declared);
}

// Links a new system path, writes the conf off the loop, then applies.
void saveUpdate(VerbContext& context, const OperationPtr& operation, const ContainerSpec& before,
                const ContainerSpec& spec, const std::shared_ptr<bool>& committed,
                const DeclaredChangePtr& declared) {
    const auto name = operation->name;
    try {
        if (!spec.needsBuild() && sourceChanged(before, spec)) {
            context.store.linkSystem(containerPaths(context.settings, name, spec.ephemeral),
                                     locateSystem(context.settings, spec.systemPath).onHost);
        }
    } catch (const ContainerError& error) {
        context.operations.finish(operation, error);
        return;
    }
    auto conf = context.registry.at(name).conf;
    context.background.run(
        name, [store = &context.store, name, spec, conf] { store->save(name, spec, conf); },
        [&context, operation, before, spec, conf, committed, declared](const Status& saved) {
            if (!saved.ok()) {
                context.operations.finish(operation, saved);
                return;
            }
            const auto& name = operation->name;
            context.registry.at(name).conf =
                confFromSpec(spec, conf, containerPaths(context.settings, name, false).configTextFile);
            *committed = true;
            applyUpdate(context, operation, before, spec, declared);
        });
}

}  // namespace

bool keepsItsAddresses(const ContainerSpec& before, ContainerSpec& spec) {
    if (!spec.privateNetwork || spec.network.hasAddress() || !spec.network.hostBridge.empty() ||
        !before.privateNetwork || before.network.hostAddress.empty() || !before.network.hostBridge.empty()) {
        return false;
    }
    spec.network = before.network;
    return true;
}

ContainerSpec updatedSpec(const VerbContext& context, const std::string& name, const SpecPatch& patch,
                          bool declared) {
    const auto& container = context.registry.get(name);
    if (container.declarative && !declared) {
        throw ContainerError(ErrorCode::Declarative,
                             "container '" + name + "' is declarative: change it in the NixOS configuration");
    }
    if (!container.broken.empty()) {
        throw ContainerError(ErrorCode::InvalidArgument, brokenConfError(container));
    }
    auto spec = patch.appliedTo(container.spec);
    const auto named = patch.keys();
    auto names = [&named](std::string_view key) {
        return std::find(named.begin(), named.end(), key) != named.end();
    };
    if (container.spec.privateNetwork && !spec.privateNetwork && !names("HostAddress") &&
        !names("LocalAddress") && !names("HostAddress6") && !names("LocalAddress6") &&
        context.registry.addresses().isPoolPair(spec.network)) {
        // The pairs the service chose for the private network go with it;
        // the caller never named these addresses.
        spec.network.hostAddress.clear();
        spec.network.localAddress.clear();
        spec.network.hostAddress6.clear();
        spec.network.localAddress6.clear();
    }
    if (patch.keys().empty() && !spec.needsBuild()) {
        // An Update naming no key rebuilds from the container's own source
        // (needsBuild). A container nixos-container made names none in its
        // conf: as `nixos-container update NAME`, it is rebuilt from its own
        // etc/nixos/configuration.nix. A build is host access: authorisation
        // asks for it (ConfigFile).
        auto own = container.root / "etc/nixos/configuration.nix";
        if (std::error_code error; !spec.systemPath.empty() || !fs::is_regular_file(own, error)) {
            throw ContainerError(ErrorCode::InvalidArgument,
                                 "container '" + name +
                                     "' has no source to rebuild from (it runs a fixed SystemPath): give a "
                                     "SystemPath, Config, ConfigFile or Flake");
        }
        spec.configFile = own.string();
    }
    auto checked = spec;
    if (!checked.needsBuild() && checked.systemPath.empty()) {
        // An imperative container of nixos-container runs what its profile
        // points at; the conf names no system.
        checked.systemPath = container.systemOnHost.string();
    }
    validateSpec(checked, context.settings);
    return spec;
}

void updateContainer(VerbContext& context, const Caller& caller, const std::string& name,
                     const SpecPatch& patch, const StatusCallback& done, DeclaredChangePtr declared) {
    ContainerSpec before;
    ContainerSpec spec;
    try {
        // Merged into the spec as it is now: another Update that ran while
        // polkit thought keeps its changes.
        spec = updatedSpec(context, name, patch, declared != nullptr);
        const auto& container = context.registry.get(name);
        if (!container.operation.empty()) {
            throw ContainerError(ErrorCode::Busy,
                                 "container '" + name + "' is busy with " + container.operation);
        }
        before = container.spec;
        context.registry.checkPortsFree(name, spec);
        if (caller.uid != 0 && !caller.internal) {
            context.registry.checkAddressesFree(name, spec);
        }
        assignAddresses(context, before, spec);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    // What the new spec uses is held from now until the update is applied
    // (or fails), so no concurrent Create or Update can take it.
    context.registry.addresses().noteUsed(spec);
    context.registry.reserve(name, spec);
    auto committed = std::make_shared<bool>(false);
    auto operation = context.operations.begin(caller, name, "update",
                                              [&context, name, spec, committed, done](Status status) {
                                                  context.registry.unreserve(name);
                                                  if (!*committed) {
                                                      context.registry.addresses().forget(spec);
                                                  }
                                                  done(std::move(status));
                                              });
    if (!operation) {
        return;
    }
    if (!spec.needsBuild()) {
        saveUpdate(context, operation, before, spec, committed, declared);
        return;
    }
    context.builder.build(name, spec,
                          [&context, operation, before, spec, committed, declared](const Status& built) {
                              if (!built.ok()) {
                                  context.operations.finish(operation, built);
                                  return;
                              }
                              saveUpdate(context, operation, before, spec, committed, declared);
                          });
}

}  // namespace nixos_containers
