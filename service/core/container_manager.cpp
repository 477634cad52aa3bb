#include "container_manager.h"

#include "container_users.h"
#include "container_verbs.h"
#include "log.h"
#include "spec_validation.h"
#include "unit_limits.h"
#include "validation.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <utility>
#include <variant>

namespace nixos_containers {

namespace {
// nspawn's environment. The container gets the unified cgroup hierarchy,
// as today's module exports: nspawn would otherwise look for a systemd under
// the root's /usr/lib/systemd, which a NixOS root (its systemd is in the
// store) or one whose /usr is bound at start does not have, and fall back to
// cgroup v1, where the container's systemd cannot see a unit's cgroup empty
// and waits out every stop timeout. nspawn must also reach the same bus as
// the service: a non-default bus is passed on.
std::vector<std::string> nspawnEnvironment() {
    std::vector<std::string> environment = {"SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1"};
    if (const char* bus = std::getenv("DBUS_SYSTEM_BUS_ADDRESS"); bus != nullptr) {
        environment.push_back(std::string("DBUS_SYSTEM_BUS_ADDRESS=") + bus);
    }
    return environment;
}
}  // namespace

ContainerManager::ContainerManager(Settings settings, Seams seams, ContainerObserver& observer)
    : settings_(std::move(settings)),
      seams_(seams),
      observer_(observer),
      store_(settings_),
      background_(seams_.worker),
      network_(settings_, seams_.network, seams_.binds, background_),
      registry_(settings_, store_, seams_.systemd, seams_.machines, network_, observer_),
      scheduler_(settings_.maxOperations),
      gate_(seams_.authorizer, seams_.worker,
            [this](const std::string& name) -> std::optional<std::uint32_t> {
                const auto* container = registry_.find(name);
                return container == nullptr ? std::nullopt : std::optional(container->owner);
            }),
      builder_(settings_, store_, seams_.processes, background_,
               [this](const std::string& name, const std::string& line) {
                   // The build belongs to the operation holding the container.
                   if (auto operation = scheduler_.holding(name);
                       operation && !operation->caller.busName.empty()) {
                       observer_.buildOutput(name, line, operation->caller.busName);
                   }
               }),
      nspawnEnvironment_(nspawnEnvironment()),
      context_{settings_,       registry_,        store_,       network_,
               background_,     builder_,         *this,        seams_.systemd,
               seams_.machines, seams_.processes, seams_.binds, nspawnEnvironment_},
      runner_(settings_, registry_, gate_, seams_.processes, seams_.worker),
      terminals_(registry_, gate_, seams_.machines),
      logs_(registry_, gate_, seams_.journal),
      declared_(context_) {}

ContainerManager::~ContainerManager() = default;

void ContainerManager::recover(StatusCallback done) {
    registry_.recover([this, done = std::move(done)](const Status& recovered) {
        done(recovered);
        if (recovered.ok()) {
            autoStart();
        }
    });
}

void ContainerManager::autoStart() {
    for (const auto& [name, container] : registry_.all()) {
        // The declarative set's containers are started by its apply, which
        // NixOS runs at every boot (nixos-containers-declarative.service):
        // after a `nixos-rebuild boot` their confs are the old generation's,
        // and the set's start then runs the new one, never the old first.
        const bool declaredBySet = container.declarative && !container.templateUnit;
        if (!container.spec.autoStart || declaredBySet || container.state == ContainerState::Running ||
            container.state == ContainerState::Starting || !container.operation.empty()) {
            continue;
        }
        autoStartQueue_.push_back(name);
    }
    // A window, not all at once: more AutoStart containers than the bound on
    // operations in flight must queue, not fail with LimitsExceeded, and
    // callers keep half of the operations for themselves meanwhile.
    const std::size_t window = std::max<std::size_t>(1, settings_.maxOperations / 2);
    while (autoStartsInFlight_ < window && !autoStartQueue_.empty()) {
        autoStartNext();
    }
}

void ContainerManager::autoStartNext() {
    if (autoStartQueue_.empty()) {
        return;
    }
    auto name = std::move(autoStartQueue_.front());
    autoStartQueue_.pop_front();
    Caller service;
    service.internal = true;
    logInfo("starting '" + name + "' (AutoStart)");
    ++autoStartsInFlight_;
    perform(service, Verb::Start, name, [this, started = name](const Status& status) {
        --autoStartsInFlight_;
        if (!status.ok()) {
            logWarning("AutoStart of '" + started + "' failed: " + status.error().what());
        }
        autoStartNext();
    });
}

// ---------------------------------------------------------------- host key

void ContainerManager::hostKey(const std::string& name, Callback<std::string> done) {
    std::string root;
    try {
        const auto& container = registry_.get(name);
        root = container.state == ContainerState::Running && container.leader != 0
                   ? "/proc/" + std::to_string(container.leader) + "/root"
                   : container.root.string();
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto key = std::make_shared<std::string>();
    seams_.worker.run(
        [key, root, name] {
            constexpr const char* kHostKey = "etc/ssh/ssh_host_ed25519_key.pub";
            constexpr std::size_t kMaxHostKey = std::size_t{64} * 1024;
            auto text = readFileBeneath(root, kHostKey, kMaxHostKey);
            if (!text) {
                throw ContainerError(ErrorCode::IOError,
                                     "container '" + name + "' has no SSH host key (/" + kHostKey + ")");
            }
            *key = std::move(*text);
        },
        [key, done = std::move(done)](const Status& read) {
            if (!read.ok()) {
                done(read.error());
                return;
            }
            done(*key);
        });
}

// ---------------------------------------------------------------- operations

OperationPtr ContainerManager::begin(const Caller& caller, const std::string& name, const std::string& verb,
                                     StatusCallback done) {
    auto operation = scheduler_.begin(caller, name, verb, std::move(done));
    if (operation) {
        registry_.operationBegan(name, verb);
    }
    return operation;
}

void ContainerManager::finish(const OperationPtr& operation, Status status) {
    if (!scheduler_.end(operation)) {
        return;
    }
    const auto& name = operation->name;
    if (!operation->creating) {
        registry_.operationEnded(name, status);
    }
    if (!status.ok()) {
        logWarning(operation->verb + " '" + name + "' failed: " + status.error().what());
    }
    auto done = std::move(operation->done);
    done(std::move(status));
    if (auto queued = afterCancelledStart_.find(name); queued != afterCancelledStart_.end()) {
        auto next = std::move(queued->second);
        afterCancelledStart_.erase(queued);
        performAuthorized(next.caller, *next.row, name, std::move(next.done), true,
                          std::get<VerbBody>(next.row->body));
        return;  // it reconciles when it ends
    }
    if (!operation->creating) {
        registry_.reconcile(name);
    }
}

// ---------------------------------------------------------------- the calls

void ContainerManager::create(const Caller& caller, const std::string& name, ContainerSpec spec,
                              Callback<std::string> done) {
    // Confined means user-namespaced: anyone but root gets a range nspawn
    // picks, unless asking (as host access) for another mode; root gets the
    // module's default. Before the checks, which hold "pick" to what it
    // cannot do (ForwardPorts on a private network).
    const bool tenant = caller.uid != 0 && !caller.internal;
    if (spec.privateUsers.empty()) {
        spec.privateUsers = tenant ? "pick" : ContainerSpec{}.privateUsers;
    }
    if (tenant) {
        applyTenantLimits(spec, settings_);  // before the checks, which hold it to the same limits
    }
    try {
        validateName(name);
        validateSpec(spec, settings_);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto hostKeys = hostAccessKeys(spec, settings_);
    const auto& row = verbRow(Verb::Create);
    authorizeSpecChange(
        caller, name, row.policy, std::move(hostKeys),
        [this, caller, name, &row, spec = std::move(spec), done = std::move(done)](const Status& allowed) {
            if (!allowed.ok()) {
                done(allowed.error());
                return;
            }
            std::get<CreateBody>(row.body)(context_, caller, name, spec, done, false);
        });
}

void ContainerManager::authorizeSpecChange(const Caller& caller, const std::string& name,
                                           const VerbPolicy& verb, std::vector<std::string> hostKeys,
                                           StatusCallback done) {
    std::string named;
    for (const auto& key : hostKeys) {
        named += (named.empty() ? "" : ",") + key;
    }
    gate_.authorize(
        caller, std::string(verb.action), name, std::string(verb.name),
        [this, caller, name, verb, named = std::move(named), done = std::move(done)](const Status& allowed) {
            if (!allowed.ok() || named.empty()) {
                done(allowed);
                return;
            }
            gate_.authorize(caller, std::string(kHostAccessAction), name, std::string(verb.name), done,
                            {{"keys", named}});
        });
}

void ContainerManager::update(const Caller& caller, const std::string& name, SpecPatch patch,
                              StatusCallback done) {
    std::vector<std::string> hostKeys;
    try {
        // Checked now against the spec as it is, and again when it is applied.
        hostKeys = hostAccessKeys(registry_.get(name).spec, updatedSpec(context_, name, patch), settings_);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    const auto& row = verbRow(Verb::Update);
    authorizeSpecChange(
        caller, name, row.policy, std::move(hostKeys),
        [this, caller, name, &row, patch = std::move(patch), done = std::move(done)](const Status& allowed) {
            if (!allowed.ok()) {
                done(allowed.error());
                return;
            }
            std::get<UpdateBody>(row.body)(context_, caller, name, patch, done, nullptr);
        });
}

void ContainerManager::applyDeclarative(const Caller& caller, const std::string& set,
                                        Callback<std::vector<DeclarativeOutcome>> done) {
    // Authorised first, then read on the worker: a set may be tens of MiB,
    // and neither a caller polkit refuses nor root's set may hold the loop
    // while it is parsed.
    gate_.authorizeHostWide(
        caller, std::string(kApplyDeclarativePolicy.action), std::string(kApplyDeclarativePolicy.name),
        [this, set, done = std::move(done)](const Status& allowed) mutable {
            if (!allowed.ok()) {
                done(allowed.error());
                return;
            }
            auto declared = std::make_shared<std::vector<DeclaredContainer>>();
            seams_.worker.runLong([set, declared] { *declared = parseDeclarativeSet(set); },
                                  [this, declared, done = std::move(done)](const Status& parsed) mutable {
                                      if (!parsed.ok()) {
                                          done(parsed.error());
                                          return;
                                      }
                                      declared_.apply(std::move(*declared), std::move(done));
                                  });
        });
}

const Container& ContainerManager::target(const VerbRow& row, const std::string& name) const {
    const auto& container = registry_.get(name);
    if (!row.onDeclarative && container.declarative) {
        throw ContainerError(
            ErrorCode::Declarative,
            "container '" + name + "' is declarative: remove it from the NixOS configuration");
    }
    // A broken conf (issue 25): Stop and Destroy only, never a start from
    // an empty spec.
    if (!container.broken.empty() && row.verb != Verb::Stop && row.verb != Verb::Terminate &&
        row.verb != Verb::Destroy) {
        throw ContainerError(ErrorCode::InvalidArgument, brokenConfError(container));
    }
    return container;
}

void ContainerManager::perform(const Caller& caller, Verb verb, const std::string& name,
                               StatusCallback done) {
    const auto& row = verbRow(verb);
    try {
        if (!std::holds_alternative<VerbBody>(row.body)) {
            throw ContainerError(ErrorCode::InvalidArgument,
                                 std::string(row.policy.name) + " carries arguments: call " +
                                     methodOfVerb(row.policy.name) + " with them");
        }
        target(row, name);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto authorized = [this, caller, &row, name, done](const Outcome<bool>& allowed) {
        if (!allowed.ok()) {
            done(allowed.error());
            return;
        }
        performAuthorized(caller, row, name, done, allowed.value(), std::get<VerbBody>(row.body));
    };
    if (row.entersContainer) {
        authorizeEntry(gate_, registry_, caller, row.policy, name, {}, authorized);
        return;
    }
    gate_.authorize(caller, std::string(row.policy.action), name, std::string(row.policy.name),
                    [authorized](const Status& allowed) {
                        authorized(allowed.ok() ? Outcome<bool>(true) : Outcome<bool>(allowed.error()));
                    });
}

void ContainerManager::performAuthorized(const Caller& caller, const VerbRow& row, const std::string& name,
                                         StatusCallback done, bool hostAccessGranted, const TakenBody& body) {
    // The world may have changed while polkit thought: check again, then
    // take the container.
    try {
        const auto& container = target(row, name);
        if (row.entersContainer) {
            checkEntry(container, hostAccessGranted);
        }
        if (!container.operation.empty()) {
            if (row.cancelsStart && cancelRunning(caller, row, name, done)) {
                return;
            }
            throw ContainerError(ErrorCode::Busy,
                                 "container '" + name + "' is busy with " + container.operation);
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    auto operation = begin(caller, name, std::string(row.policy.name), std::move(done));
    if (!operation) {
        return;
    }
    body(context_, operation, [this, operation](Status status) { finish(operation, std::move(status)); });
}

void ContainerManager::switchGeneration(const Caller& caller, const std::string& name,
                                        std::uint32_t generation, StatusCallback done) {
    const auto& row = verbRow(Verb::SwitchGeneration);
    try {
        checkGenerationSwitch(target(row, name).generations, name, generation);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    const TakenBody body = [&row, generation](VerbContext& context, const OperationPtr& operation,
                                              StatusCallback next) {
        std::get<GenerationBody>(row.body)(context, operation, generation, std::move(next));
    };
    gate_.authorize(caller, std::string(row.policy.action), name, std::string(row.policy.name),
                    [this, caller, &row, name, body, done](const Status& allowed) {
                        if (!allowed.ok()) {
                            done(allowed.error());
                            return;
                        }
                        performAuthorized(caller, row, name, done, true, body);
                    },
                    {{"generation", std::to_string(generation)}});
}

void ContainerManager::seesSecrets(const Caller& caller, const std::string& name, Callback<bool> done) {
    try {
        const auto& container = registry_.get(name);
        if (caller.uid == 0 || caller.internal || caller.uid == container.owner) {
            done(true);
            return;
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    Caller quiet = caller;
    quiet.allowInteractive = false;  // a read never prompts
    gate_.authorize(quiet, std::string(kUpdatePolicy.action), name, "inspect",
                    [done = std::move(done)](const Status& allowed) { done(allowed.ok()); });
}

bool ContainerManager::cancelRunning(const Caller& caller, const VerbRow& row, const std::string& name,
                                     StatusCallback& done) {
    auto operation = scheduler_.holding(name);
    const auto* running = operation ? verbRowNamed(operation->verb) : nullptr;
    if (running == nullptr || !running->cancellable || !operation->cancelledBy.empty() ||
        afterCancelledStart_.contains(name)) {
        return false;
    }
    operation->cancelledBy = row.policy.name;
    afterCancelledStart_.emplace(name, QueuedVerb{caller, &row, std::move(done)});
    logInfo("cancelling the " + operation->verb + " of '" + name + "' for a " + operation->cancelledBy);
    if (operation->process) {
        // A Reload's switch-to-configuration: its answer follows the kill.
        seams_.processes.kill(*operation->process);
    }
    if (!operation->unitStarting.empty()) {
        // Killed, not halted: the container never became ready, and nspawn
        // loses a halt request that comes before the container's init runs
        // (the stop would then wait for the stop timeout). The start's job
        // fails; the Stop or Terminate then finds a failed unit.
        seams_.systemd.killUnit(operation->unitStarting, SIGKILL, [name](const Status& killed) {
            if (!killed.ok()) {
                logWarning("cannot cancel the start of '" + name + "': " + killed.error().what());
            }
        });
    }
    return true;
}

}  // namespace nixos_containers
