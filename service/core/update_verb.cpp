#include "container_paths.h"
#include "container_verbs.h"
#include "network_plan.h"
#include "unit_limits.h"
#include "spec_validation.h"
#include "validation.h"
#include "verb_table.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

using ChangePtr = std::shared_ptr<ContainerChange>;

// What the saved change asks of the running container: nothing, its unit's
// new limits, a reload or a restart. The declarative set learns it first.
UpdateEffect effectOnRunning(const Container& container, const ContainerSpec& before,
                             const ContainerSpec& spec, const DeclaredChangePtr& declared) {
    const bool running = container.state == ContainerState::Running;
    auto effect = running ? classifyUpdate(before, spec) : UpdateEffect::None;
    if (spec.needsBuild() && running && effect < UpdateEffect::Reload) {
        effect = UpdateEffect::Reload;  // a rebuild may have changed the system
    }
    const bool restartKept = effect == UpdateEffect::Restart && declared && !declared->restartIfChanged;
    if (declared && declared->applied) {
        declared->applied(effect, restartKept);
    }
    // The module's restartIfChanged = false: the running container is left
    // as it is, and its next start runs the saved spec. Its limits are the
    // unit's, not the container's, and are still set live.
    return restartKept ? UpdateEffect::None : effect;
}

// The old network plan goes with the old container: stopped before the
// change is committed, started after it (committed even when the stop
// failed: the conf is saved).
void restartWithChange(VerbContext& context, const OperationPtr& operation, const ChangePtr& change,
                       EnvFile conf, const StatusCallback& finishWith) {
    stopContainer(
        context, operation,
        [&context, operation, change, conf = std::move(conf), finishWith](const Status& stopped) mutable {
            change->commit(std::move(conf));
            if (!stopped.ok()) {
                finishWith(stopped);
                return;
            }
            startContainer(context, operation, finishWith);
        });
}

// The running container follows its committed spec: nothing, its unit's new
// limits, or a reload (after the limits).
void applyLive(VerbContext& context, const OperationPtr& operation, const ContainerSpec& before,
               const ContainerSpec& spec, UpdateEffect effect, const StatusCallback& finishWith) {
    const auto& container = context.registry.get(operation->name);
    auto limits = container.state == ContainerState::Running ? changedUnitLimits(before, spec)
                                                             : std::vector<UnitProperty>{};
    if (!limits.empty()) {
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
    if (effect == UpdateEffect::Reload) {
        reloadContainer(context, operation, finishWith);
        return;
    }
    finishWith(Done{});
}

// Saved: the registry takes the change, and the running container follows.
void applyUpdate(VerbContext& context, const OperationPtr& operation, const ContainerSpec& before,
                 const ChangePtr& change, EnvFile conf, const DeclaredChangePtr& declared) {
    auto finishWith = [&context, operation](Status status) {
        context.operations.finish(operation, std::move(status));
    };
    const auto effect =
        effectOnRunning(context.registry.get(operation->name), before, change->spec(), declared);
    if (effect == UpdateEffect::Restart) {
        restartWithChange(context, operation, change, std::move(conf), finishWith);
        return;
    }
    change->commit(std::move(conf));
    applyLive(context, operation, before, change->spec(), effect, finishWith);
}

// Links a new system path, writes the conf off the loop, then applies.
void saveUpdate(VerbContext& context, const OperationPtr& operation, const ContainerSpec& before,
                const ChangePtr& change, const DeclaredChangePtr& declared) {
    const auto name = operation->name;
    const auto& spec = change->spec();
    try {
        if (!spec.needsBuild() && sourceChanged(before, spec)) {
            context.store.linkSystem(containerPaths(context.settings, name, spec.ephemeral),
                                     locateSystem(context.settings, spec.systemPath).onHost);
        }
    } catch (const ContainerError& error) {
        context.operations.finish(operation, error);
        return;
    }
    auto written = std::make_shared<EnvFile>();
    context.background.run(
        name,
        [store = &context.store, name, spec, base = context.registry.get(name).conf, written] {
            *written = store->save(name, spec, base);
        },
        [&context, operation, before, change, written, declared](const Status& saved) {
            if (!saved.ok()) {
                context.operations.finish(operation, saved);
                return;
            }
            applyUpdate(context, operation, before, change, std::move(*written), declared);
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
    ChangePtr change;
    try {
        // Merged into the spec as it is now: another Update that ran while
        // polkit thought keeps its changes.
        auto spec = updatedSpec(context, name, patch, declared != nullptr);
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
        // A private network without addresses keeps the pair it has, or
        // gets one of the pool (beginChange).
        keepsItsAddresses(before, spec);
        // What the new spec uses is held from now until the update is
        // committed (or fails), so no concurrent Create or Update can take it.
        change = std::make_shared<ContainerChange>(context.registry.beginChange(name, std::move(spec)));
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto operation = context.operations.begin(caller, name, std::string(kUpdatePolicy.name),
                                              [change, done](Status status) {
                                                  change->rollback();
                                                  done(std::move(status));
                                              });
    if (!operation) {
        return;
    }
    if (!change->spec().needsBuild()) {
        saveUpdate(context, operation, before, change, declared);
        return;
    }
    context.builder.build(name, change->spec(),
                          [&context, operation, before, change, declared](const Status& built) {
                              if (!built.ok()) {
                                  context.operations.finish(operation, built);
                                  return;
                              }
                              saveUpdate(context, operation, before, change, declared);
                          });
}

}  // namespace nixos_containers
