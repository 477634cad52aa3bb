#include "bind_pins.h"
#include "container_paths.h"
#include "container_verbs.h"
#include "log.h"
#include "network_plan.h"
#include "nspawn_command.h"
#include "transient_unit.h"
#include "validation.h"

#include <fstream>
#include <memory>
#include <optional>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

bool isI686System(const fs::path& system) {
    std::ifstream in(system / "system");
    std::string word;
    in >> word;
    return word == "i686-linux";
}

// Everything nspawn will need, computed and checked before anything runs.
struct StartPlan {
    std::optional<NetworkPlan> network;
    std::vector<BindPin> pins;
    TransientUnit unit;
};

StartPlan planStart(VerbContext& context, Container& container) {
    const auto& settings = context.settings;
    const auto& name = container.name;
    const auto& spec = container.spec;
    if (!isMachineName(name)) {
        // A container nixos-container made under a name nspawn refuses.
        throw ContainerError(ErrorCode::StartFailed,
                             "container '" + name +
                                 "' cannot start: its name is not a valid machine name "
                                 "for systemd-nspawn (no '_', no trailing '-')");
    }
    // Host state the spec names, which may have gone since Create.
    for (const auto& bind : spec.bindMounts) {
        std::error_code missing;
        if (!fs::exists(bind.effectiveHostPath(), missing)) {
            throw ContainerError(ErrorCode::StartFailed, "BindMounts host path '" + bind.effectiveHostPath() +
                                                             "' does not exist on the host");
        }
    }
    const auto paths = containerPaths(settings, name, spec.ephemeral);
    fs::path system = spec.systemPath.empty() ? fs::path(paths.systemLink) : fs::path(spec.systemPath);
    // /nix/store/X names STORE_DIR/X; map first, then follow links.
    auto location = locateSystem(settings, system.native());
    std::error_code error;
    auto resolved = fs::canonical(location.onHost, error);
    if (error) {
        throw ContainerError(ErrorCode::StartFailed,
                             "the system " + system.string() + " does not exist: " + error.message());
    }
    location = locateSystem(settings, resolved.native());
    container.systemOnHost = location.onHost;
    StartPlan plan;
    plan.network = planNetwork(name, spec, settings);
    plan.pins = planBindPins(settings, name, spec, container.owner);
    NspawnInputs inputs;
    for (const auto& pin : plan.pins) {
        inputs.pinnedBinds.emplace(pin.index, pin.pin.string());
    }
    inputs.name = name;
    inputs.spec = &spec;
    inputs.paths = paths;
    inputs.systemInContainer = location.inContainer.string();
    inputs.network = plan.network;
    inputs.personalityX86 = isI686System(location.onHost);
    inputs.bindNixDb = fs::exists(settings.nixStateDir / "db", error);
    // nix-daemon trusts uid 0: a container whose root is the host's root
    // would reach it as a trusted user, whose settings (pre-build-hook...)
    // run as root on the host. As the module does, root's containers get the
    // socket; a container someone else owns only in a user namespace, where
    // its root is a uid the daemon does not trust.
    inputs.bindNixDaemonSocket = fs::exists(settings.nixStateDir / "daemon-socket", error) &&
                                 (container.owner == 0 || spec.userNamespaced());
    TransientUnitInputs unitInputs;
    unitInputs.name = name;
    unitInputs.spec = &spec;
    unitInputs.root = paths.root.string();
    unitInputs.nspawnArgv = buildNspawnArgv(settings, inputs);
    unitInputs.environment = context.nspawnEnvironment;
    unitInputs.networkNamespacePath = unitNetworkNamespace(spec, plan.network);
    plan.unit = buildTransientUnit(unitInputs);
    return plan;
}

// The unit runs; the answer waits for the leader when MachineNew has not
// brought it yet.
void afterUnitStarted(VerbContext& context, const OperationPtr& operation, Status started,
                      const StatusCallback& next) {
    const auto& name = operation->name;
    if (!started.ok() && !operation->cancelledBy.empty()) {
        started = cancelledError(*operation);
    }
    if (!started.ok()) {
        context.network.release(
            name, context.registry.at(name).spec, [&context, name, next, started](const Status&) {
                context.registry.refreshFromSystem(name, [next, started] { next(started); });
            });
        return;
    }
    auto& container = context.registry.at(name);
    context.registry.setState(container, ContainerState::Running);
    // machined announces nspawn's registration before nspawn can report
    // ready, so a leader learned from MachineNew with no lookup still out is
    // nspawn's own (a stale registration's was announced, and answered,
    // earlier). Otherwise machined is asked once more.
    if (container.leader != 0 && container.machineLookupsInFlight == 0) {
        context.registry.refreshAddresses(container);
        next(Done{});
        return;
    }
    context.registry.refreshMachine(name, [next] { next(Done{}); });
}

void launchUnit(VerbContext& context, const OperationPtr& operation, const TransientUnit& unit,
                const StatusCallback& next) {
    const auto& name = operation->name;
    if (!operation->cancelledBy.empty()) {
        context.network.release(
            name, context.registry.at(name).spec, [&context, operation, next](const Status&) {
                context.registry.setState(context.registry.at(operation->name), ContainerState::Stopped);
                next(cancelledError(*operation));
            });
        return;
    }
    operation->unitStarting = unit.name;
    context.systemd.startTransientUnit(unit, [&context, operation, next](Status started) {
        afterUnitStarted(context, operation, std::move(started), next);
    });
}

// A machine of the container's name: a stale registration of ours (nixpkgs
// #486775) is terminated; anyone else's is left alone and the start fails.
void endStaleMachine(VerbContext& context, const std::string& name, const StatusCallback& done) {
    context.machines.getMachine(name, [&context, name, done](Outcome<std::optional<MachineInfo>> found) {
        if (!found.ok() || !found.value()) {
            done(Done{});  // machined knows none (or cannot say: nspawn will)
            return;
        }
        if (!isContainerUnit(name, found.value()->unit)) {
            done(foreignMachineError(name, found.value()->unit));
            return;
        }
        context.machines.terminateMachine(name, [name, done](const Status& terminated) {
            if (!terminated.ok()) {
                logWarning("cannot terminate a stale machine '" + name + "': " + terminated.error().what());
            }
            done(Done{});
        });
    });
}

// The module's pre-start: a stale machine registration of that name is
// terminated (nixpkgs #486775), a failed unit of that name forgotten, and
// the root's skeleton made. The three are independent: they go out at once,
// and the network and the unit wait for all of them.
void preStart(VerbContext& context, const OperationPtr& operation, const StartPlan& plan,
              const StatusCallback& next) {
    const auto name = operation->name;
    auto pending = std::make_shared<int>(3);
    auto failure = std::make_shared<std::optional<ContainerError>>();
    auto afterAll = [&context, operation, plan, next, pending, failure]() {
        if (--*pending > 0) {
            return;
        }
        const auto& name = operation->name;
        if (*failure) {
            // The binds may have been pinned before another step failed.
            context.network.release(
                name, context.registry.at(name).spec, [&context, name, next, failure](const Status&) {
                    context.registry.setState(context.registry.at(name), ContainerState::Stopped);
                    next(ContainerError(ErrorCode::StartFailed, (*failure)->what()));
                });
            return;
        }
        if (!plan.network) {
            launchUnit(context, operation, plan.unit, next);
            return;
        }
        context.network.prepare(
            name, *plan.network, [&context, operation, plan, next](const Status& networked) {
                if (!networked.ok()) {
                    const auto& name = operation->name;
                    context.network.release(name, context.registry.at(name).spec,
                                            [&context, name, next, networked](const Status&) {
                                                context.registry.setState(context.registry.at(name),
                                                                          ContainerState::Stopped);
                                                next(networked);
                                            });
                    return;
                }
                launchUnit(context, operation, plan.unit, next);
            });
    };
    endStaleMachine(context, name, [afterAll, failure](const Status& ended) {
        if (!ended.ok()) {
            *failure = ended.error();
        }
        afterAll();
    });
    context.systemd.resetFailedUnit(plan.unit.name, [afterAll](const Status&) { afterAll(); });
    context.background.run(
        name,
        [store = &context.store, binds = &context.binds,
         paths = containerPaths(context.settings, name, context.registry.at(name).spec.ephemeral),
         copyResolvConf = context.registry.at(name).spec.copyResolvConf,
         pinDirectory = bindPinDirectory(context.settings, name), pins = plan.pins] {
            store->prepareRoot(paths, copyResolvConf);
            if (!pins.empty()) {
                binds->pin(pinDirectory, pins);
            }
        },
        [afterAll, failure](const Status& prepared) {
            if (!prepared.ok()) {
                *failure = prepared.error();
            }
            afterAll();
        });
}

void startByModuleTemplate(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    const auto unit = context.registry.at(operation->name).unit;
    operation->unitStarting = unit;
    context.systemd.startUnit(unit, [&context, operation, next = std::move(next)](Status started) {
        if (!started.ok() && !operation->cancelledBy.empty()) {
            started = cancelledError(*operation);
        }
        context.registry.refreshFromSystem(
            operation->name, [&context, name = operation->name, started, next] {
                context.registry.refreshMachine(name, [started, next] { next(started); });
            });
    });
}

}  // namespace

ContainerError foreignMachineError(const std::string& name, const std::string& unit) {
    return {ErrorCode::AlreadyExists, "a machine named '" + name +
                                          "' that this service did not start runs (unit " + quoteValue(unit) +
                                          "); it is left alone"};
}

ContainerError cancelledError(const Operation& operation) {
    return {ErrorCode::StartFailed, "the " + operation.verb + " of '" + operation.name +
                                        "' was cancelled by a " + operation.cancelledBy};
}

void startContainer(VerbContext& context, const OperationPtr& operation, StatusCallback next) {
    const auto name = operation->name;
    auto& container = context.registry.at(name);
    if (container.state == ContainerState::Running) {
        next(Done{});
        return;
    }
    if (!operation->cancelledBy.empty()) {  // a Restart whose stop half was followed by a Stop
        next(cancelledError(*operation));
        return;
    }
    // A leader learned before is a stale machine's: the new one comes with
    // MachineNew or the lookup after the job.
    container.leader = 0;
    container.machinePath.clear();
    container.timestamp = 0;
    container.osRelease.clear();
    context.registry.setState(container, ContainerState::Starting);
    if (container.templateUnit) {
        startByModuleTemplate(context, operation, std::move(next));
        return;
    }
    container.unit = serviceUnitName(name);
    StartPlan plan;
    try {
        plan = planStart(context, container);
    } catch (const ContainerError& error) {
        context.registry.setState(container, ContainerState::Stopped);
        next(error.code() == ErrorCode::InvalidArgument ? ContainerError(ErrorCode::StartFailed, error.what())
                                                        : error);
        return;
    }
    preStart(context, operation, plan, next);
}

}  // namespace nixos_containers
