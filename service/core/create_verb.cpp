#include "container_paths.h"
#include "container_verbs.h"
#include "log.h"
#include "transient_unit.h"

#include <optional>
#include <utility>

namespace nixos_containers {

namespace {

// The pool's addresses a Create holds (an IPv4 pair, and an IPv6 one).
using AddressPair = NetworkOptions;

// Checked and reserved now, after authorisation, in one turn of the loop:
// nothing can slip in between, and a caller waiting for polkit holds nothing.
std::optional<AddressPair> reserve(VerbContext& context, const Caller& caller, const std::string& name,
                                   ContainerSpec& spec) {
    auto& registry = context.registry;
    if (registry.find(name) != nullptr || registry.reserved(name) || context.store.exists(name)) {
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
    std::optional<AddressPair> allocated;
    if (spec.privateNetwork && !spec.network.hasAddress() && spec.network.hostBridge.empty()) {
        allocated = registry.addresses().allocate();
        spec.network = *allocated;
    } else {
        registry.addresses().noteUsed(spec);
    }
    registry.reserve(name, spec, caller.uid);
    return allocated;
}

// The write (with its fsyncs) runs off the loop; the container exists for
// everyone once it is on disk.
void commit(VerbContext& context, const OperationPtr& operation, const ContainerSpec& spec, bool declared,
            const std::function<void()>& undo, const Callback<std::string>& done) {
    const auto name = operation->name;
    EnvFile base;
    if (operation->caller.uid != 0) {
        base.set(std::string(kOwnerConfKey), std::to_string(operation->caller.uid));
    }
    if (declared) {
        base.set(std::string(kDeclarativeConfKey), "1");
    }
    context.background.run(
        name, [store = &context.store, name, spec, base] { store->save(name, spec, base); },
        [&context, operation, spec, base, declared, undo, done](const Status& saved) {
            const auto& name = operation->name;
            if (!saved.ok()) {
                undo();
                context.operations.finish(operation, saved);
                return;
            }
            Container container;
            container.name = name;
            container.spec = spec;
            container.declarative = declared;
            container.conf =
                confFromSpec(spec, base, containerPaths(context.settings, name, false).configTextFile);
            context.registry.unreserve(name);
            context.registry.addresses().forget(spec);  // publish() notes them again
            context.registry.publish(std::move(container));
            operation->done = [](const Status&) {};
            context.operations.finish(operation, Done{});
            done(name);
        });
}

void createFree(VerbContext& context, const Caller& caller, const std::string& name, ContainerSpec spec,
                bool declared, const Callback<std::string>& done) {
    std::optional<AddressPair> allocated;
    try {
        allocated = reserve(context, caller, name, spec);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto release = [&context, name, spec, allocated] {
        context.registry.unreserve(name);
        if (allocated) {
            context.registry.addresses().release(*allocated);
        } else {
            context.registry.addresses().forget(spec);
        }
    };
    auto operation = context.operations.begin(caller, name, "create", [release, done](const Status& status) {
        if (!status.ok()) {
            release();
            done(status.error());
        }
    });
    if (!operation) {
        return;
    }
    operation->creating = true;
    const auto paths = containerPaths(context.settings, name, spec.ephemeral);
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
    if (spec.needsBuild()) {
        context.builder.build(name, spec,
                              [&context, operation, spec, declared, undo, done](const Status& built) {
                                  if (!built.ok()) {
                                      undo();
                                      context.operations.finish(operation, built);
                                      return;
                                  }
                                  commit(context, operation, spec, declared, undo, done);
                              });
        return;
    }
    try {
        context.store.linkSystem(paths, locateSystem(context.settings, spec.systemPath).onHost);
    } catch (const ContainerError& error) {
        undo();
        context.operations.finish(operation, error);
        return;
    }
    commit(context, operation, spec, declared, undo, done);
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
