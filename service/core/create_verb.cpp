#include "container_paths.h"
#include "container_verbs.h"
#include "log.h"
#include "transient_unit.h"
#include "verb_table.h"

#include <memory>
#include <utility>

namespace nixos_containers {

namespace {

using ChangePtr = std::shared_ptr<ContainerChange>;

// Checked and held now, after authorisation, in one turn of the loop:
// nothing can slip in between, and a caller waiting for polkit holds nothing.
ChangePtr hold(VerbContext& context, const Caller& caller, const std::string& name, ContainerSpec spec) {
    auto& registry = context.registry;
    if (registry.find(name) != nullptr || registry.held(name) || context.store.exists(name)) {
        throw ContainerError(ErrorCode::AlreadyExists, "container '" + name + "' already exists");
    }
    const auto cap = context.settings.maxContainersPerUser;
    if (caller.uid != 0 && !caller.internal && cap != 0 && registry.ownedBy(caller.uid) >= cap) {
        throw ContainerError(ErrorCode::LimitsExceeded, "uid " + std::to_string(caller.uid) + " owns " +
                                                            std::to_string(cap) +
                                                            " containers, the most one user may own");
    }
    registry.checkPortsFree(name, spec);
    if (caller.uid != 0 && !caller.internal) {
        registry.checkAddressesFree(name, spec);
    }
    return std::make_shared<ContainerChange>(registry.beginCreate(name, std::move(spec), caller.uid));
}

// The write (with its fsyncs) runs off the loop; the container exists for
// everyone once it is on disk.
void save(VerbContext& context, const OperationPtr& operation, const ChangePtr& change, bool declared,
          const std::function<void()>& undo, const Callback<std::string>& done) {
    const auto name = operation->name;
    EnvFile base;
    if (operation->caller.uid != 0) {
        base.set(std::string(kOwnerConfKey), std::to_string(operation->caller.uid));
    }
    if (declared) {
        base.set(std::string(kDeclarativeConfKey), "1");
    }
    auto written = std::make_shared<EnvFile>();
    context.background.run(
        name,
        [store = &context.store, name, spec = change->spec(), base, written] {
            *written = store->save(name, spec, base);
        },
        [&context, operation, change, written, undo, done](const Status& saved) {
            if (!saved.ok()) {
                undo();
                context.operations.finish(operation, saved);
                return;
            }
            change->commit(std::move(*written));
            operation->done = [](const Status&) {};
            context.operations.finish(operation, Done{});
            done(operation->name);
        });
}

void createFree(VerbContext& context, const Caller& caller, const std::string& name, ContainerSpec spec,
                bool declared, const Callback<std::string>& done) {
    ChangePtr change;
    try {
        change = hold(context, caller, name, std::move(spec));
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto operation = context.operations.begin(caller, name, std::string(kCreatePolicy.name),
                                              [change, done](const Status& status) {
                                                  if (!status.ok()) {
                                                      change->rollback();
                                                      done(status.error());
                                                  }
                                              });
    if (!operation) {
        return;
    }
    operation->creating = true;
    const auto& held = change->spec();
    const auto paths = containerPaths(context.settings, name, held.ephemeral);
    // Undo everything Create may have made; the conf goes last on success,
    // so a crash before it leaves no container behind, only files we own.
    // Create never makes a root: a root left by an earlier container of that
    // name is the owner's data and stays.
    auto undo = [&context, name, paths] {
        try {
            context.store.removeConf(name);
            context.store.removeProfile(paths);
        } catch (const ContainerError& error) {
            logError("cannot clean up after a failed Create of '" + name + "': " + error.what());
        }
    };
    if (held.needsBuild()) {
        context.builder.build(name, held,
                              [&context, operation, change, declared, undo, done](const Status& built) {
                                  if (!built.ok()) {
                                      undo();
                                      context.operations.finish(operation, built);
                                      return;
                                  }
                                  save(context, operation, change, declared, undo, done);
                              });
        return;
    }
    try {
        context.store.linkSystem(paths, locateSystem(context.settings, held.systemPath).onHost);
    } catch (const ContainerError& error) {
        undo();
        context.operations.finish(operation, error);
        return;
    }
    save(context, operation, change, declared, undo, done);
}

}  // namespace

void createContainer(VerbContext& context, const Caller& caller, const std::string& name, ContainerSpec spec,
                     const Callback<std::string>& done, bool declared) {
    // A name another machine holds is not free: its Start would have to end
    // that machine, which is not ours to end.
    context.machines.getMachine(name, [&context, caller, name, spec = std::move(spec), declared,
                                       done](Outcome<std::optional<MachineInfo>> found) {
        if (found.ok() && found.value() && !isContainerUnit(name, found.value()->unit)) {
            done(foreignMachineError(name, found.value()->unit));
            return;
        }
        createFree(context, caller, name, spec, declared, done);
    });
}

}  // namespace nixos_containers
