#pragma once

#include "authorization_gate.h"
#include "background_queue.h"
#include "builder.h"
#include "container.h"
#include "container_logs.h"
#include "container_network.h"
#include "container_observer.h"
#include "container_registry.h"
#include "container_store.h"
#include "declarative_apply.h"
#include "host_network.h"
#include "operation_scheduler.h"
#include "permissions.h"
#include "run_command.h"
#include "settings.h"
#include "spec_keys.h"
#include "spec_patch.h"
#include "system_seams.h"
#include "terminal_opener.h"
#include "verb_context.h"
#include "verb_table.h"

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace nixos_containers {

struct Seams {
    SystemdManager& systemd;
    MachineRegistry& machines;
    Authorizer& authorizer;
    ContainerNetwork& network;  // called from the worker, never from the loop
    BindPinner& binds;          // likewise
    ProcessRunner& processes;
    Worker& worker;
    JournalReader& journal;
};

// The core's front: the public API, and one path for every call: validate,
// authorise, take the container, act. Runs on the one event loop: no method
// blocks, every completion is called exactly once, and an operation holds
// its container exclusively (a second one gets Busy). Validation errors are
// found before authorisation, and authorisation before any side effect.
class ContainerManager final : private OperationControl {
public:
    ContainerManager(Settings settings, Seams seams, ContainerObserver& observer);
    ~ContainerManager() override;
    ContainerManager(const ContainerManager&) = delete;
    ContainerManager& operator=(const ContainerManager&) = delete;

    // Loads every container from disk and learns its state from systemd and
    // machined; completes when the service knows the world. AutoStart
    // containers are then started in the background.
    void recover(StatusCallback done);

    [[nodiscard]] const Container* find(const std::string& name) const { return registry_.find(name); }
    // Throws NoSuchContainer / InvalidArgument.
    [[nodiscard]] const Container& get(const std::string& name) const { return registry_.get(name); }
    [[nodiscard]] const std::map<std::string, Container>& containers() const { return registry_.all(); }

    void create(const Caller& caller, const std::string& name, ContainerSpec spec,
                Callback<std::string> done);
    // The patch is applied to the spec as it is when the update runs.
    void update(const Caller& caller, const std::string& name, SpecPatch patch, StatusCallback done);
    void perform(const Caller& caller, Verb verb, const std::string& name, StatusCallback done);
    // Rollback to GENERATION (the Generations property's number): as
    // Rollback, authorised as it is with verb switch-generation and a
    // `generation` detail. InvalidArgument for one that does not exist or
    // runs already, before authorisation.
    void switchGeneration(const Caller& caller, const std::string& name, std::uint32_t generation,
                          StatusCallback done);
    // NixOS's declarative set (declarative_set.h's JSON), reconciled
    // (DeclarativeApplier). Authorised before it is read; the set itself
    // wrong: InvalidArgument; another apply running: Busy; each container's
    // own failure is in its outcome.
    void applyDeclarative(const Caller& caller, const std::string& set,
                          Callback<std::vector<DeclarativeOutcome>> done);

    // A command in a running container (CommandRunner): no operation, so
    // it neither waits for nor blocks the verbs.
    void run(const Caller& caller, const std::string& name, RunCommand command, Callback<ProcessExit> done) {
        runner_.run(caller, name, std::move(command), std::move(done));
    }
    // A terminal in a running container (TerminalOpener): OpenShell and
    // OpenLogin, through machined after our own polkit check.
    void openShell(const Caller& caller, const std::string& name, ShellRequest request,
                   Callback<MachineTerminal> done) {
        terminals_.openShell(caller, name, std::move(request), std::move(done));
    }
    void openLogin(const Caller& caller, const std::string& name, Callback<MachineTerminal> done) {
        terminals_.openLogin(caller, name, std::move(done));
    }
    // The container's journal (ContainerLogs): the last `lines` entries,
    // then, with `follow`, new ones until the caller closes its end.
    void openLogs(const Caller& caller, const std::string& name, std::uint32_t lines, bool follow,
                  Callback<std::shared_ptr<UniqueFd>> done) {
        logs_.open(caller, name, lines, follow, std::move(done));
    }
    // The container's SSH host public key (show-host-key), read on the
    // worker beneath its root (the running container's own view of it).
    // NoSuchContainer, InvalidArgument, IOError when it has none.
    void hostKey(const std::string& name, Callback<std::string> done);
    // Whether the caller may see NAME's secrets (Config text, the last
    // error): root, the owner, or a caller polkit lets update it, asked
    // without interaction. NoSuchContainer / InvalidArgument.
    void seesSecrets(const Caller& caller, const std::string& name, Callback<bool> done);
    // GetPermissions (permissions.h): what the caller may do to NAME, from
    // polkit without interaction; NAME "": Create alone. Open to everyone.
    void permissions(const Caller& caller, const std::string& name,
                     Callback<std::map<std::string, std::string>> done) {
        askPermissions(gate_, registry_, caller, name, std::move(done));
    }
    // A bus name left the bus: its commands are killed.
    void callerGone(const std::string& busName) { runner_.callerGone(busName); }

    [[nodiscard]] std::size_t operationsInFlight() const { return scheduler_.inFlight(); }
    [[nodiscard]] std::size_t commandsRunning() const { return runner_.running(); }

private:
    // OperationControl: the scheduler, with the registry's bookkeeping.
    OperationPtr begin(const Caller& caller, const std::string& name, const std::string& verb,
                       StatusCallback done) override;
    void finish(const OperationPtr& operation, Status status) override;

    // A create's or update's authorisation: its plain action, then, when
    // its spec asks for the host (`hostKeys`, from the registry's asksHost),
    // org.nixos.containers.host-access with the keys as the `keys` detail.
    void authorizeSpecChange(const Caller& caller, const std::string& name, const VerbPolicy& verb,
                             std::vector<std::string> hostKeys, StatusCallback done);
    // The container `row` acts on; throws NoSuchContainer, or Declarative.
    const Container& target(const VerbRow& row, const std::string& name) const;
    // A verb's body once its operation holds the container, with the
    // arguments it carries bound.
    using TakenBody = std::function<void(VerbContext&, const OperationPtr&, StatusCallback)>;
    // hostAccessGranted: whether an entering verb's caller got host access
    // too (authorizeEntry), checked against the container as it is now.
    void performAuthorized(const Caller& caller, const VerbRow& row, const std::string& name,
                           StatusCallback done, bool hostAccessGranted, const TakenBody& body);
    // A Stop or Terminate while the container starts or reloads: the start
    // is cancelled (systemd cancels its job), the reload's process killed,
    // and the verb runs when that operation has answered. False, `done`
    // untouched, when nothing cancellable is there.
    bool cancelRunning(const Caller& caller, const VerbRow& row, const std::string& name,
                       StatusCallback& done);
    // AutoStart containers start in a window of maxOperations / 2 at a time,
    // the next as one ends.
    void autoStart();
    void autoStartNext();

    Settings settings_;
    Seams seams_;
    ContainerObserver& observer_;
    ContainerStore store_;
    BackgroundQueue background_;
    HostNetwork network_;
    ContainerRegistry registry_;
    OperationScheduler scheduler_;
    AuthorizationGate gate_;
    Builder builder_;
    std::vector<std::string> nspawnEnvironment_;
    VerbContext context_;
    CommandRunner runner_;
    TerminalOpener terminals_;
    ContainerLogs logs_;
    DeclarativeApplier declared_;
    struct QueuedVerb {
        Caller caller;
        const VerbRow* row;
        StatusCallback done;
    };
    // A Stop or Terminate waiting for the start or reload it cancelled to end.
    std::map<std::string, QueuedVerb> afterCancelledStart_;
    std::deque<std::string> autoStartQueue_;
    std::size_t autoStartsInFlight_ = 0;
};

}  // namespace nixos_containers
