#pragma once

// Fakes of every seam in service/core/system_seams.h and the observer, for
// the unit tests and the benchmarks: each records what it was asked and
// answers later, on a Deferred loop, as the real event loop would.
#include "container_manager.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace nixos_containers {

// Completions run later, as the real loop runs them: never inside the call.
struct Deferred {
    std::deque<std::function<void()>> queue;
    void post(std::function<void()> work) { queue.push_back(std::move(work)); }
    // Runs the oldest completion alone; false when there was none.
    bool runOne() {
        if (queue.empty()) {
            return false;
        }
        auto work = std::move(queue.front());
        queue.pop_front();
        work();
        return true;
    }
    void drain() {
        while (!queue.empty()) {
            auto work = std::move(queue.front());
            queue.pop_front();
            work();
        }
    }
};

struct FakeSystemd final : SystemdManager {
    explicit FakeSystemd(Deferred& loop) : loop(loop) {}
    void startTransientUnit(const TransientUnit& unit, StatusCallback done) override {
        started.push_back(unit);
        auto finish = [this, unit, done] {
            if (cancelled.erase(unit.name) > 0) {
                units[unit.name] = {"failed", "failed", "signal"};
                done(ContainerError(ErrorCode::StartFailed,
                                    "unit " + unit.name + " job failed; result 'signal'"));
            } else if (failStart) {
                units[unit.name] = {"failed", "failed", "exit-code"};
                done(ContainerError(ErrorCode::StartFailed,
                                    "unit " + unit.name + " job failed; result 'exit-code'"));
            } else {
                units[unit.name] = {"active", "running", "success"};
                done(Done{});
            }
        };
        if (holdStarts) {
            held.push_back(finish);
            heldUnits.push_back(unit.name);
        } else {
            loop.post(finish);
        }
    }
    void startUnit(const std::string& unit, StatusCallback done) override {
        startedUnits.push_back(unit);
        loop.post([this, unit, done] {
            units[unit] = {"active", "running", ""};
            done(Done{});
        });
    }
    void killUnit(const std::string& unit, int signal, StatusCallback done) override {
        killed.emplace_back(unit, signal);
        // The main process dies: the unit's pending start job fails.
        for (std::size_t i = 0; i < held.size(); ++i) {
            if (heldUnits[i] == unit && held[i]) {
                cancelled.insert(unit);
                loop.post(std::move(held[i]));
                held[i] = nullptr;
            }
        }
        loop.post([done] { done(Done{}); });
    }
    void stopUnit(const std::string& unit, StatusCallback done) override {
        stopped.push_back(unit);
        loop.post([this, unit, done] {
            units.erase(unit);
            done(Done{});
        });
    }
    void setUnitProperties(const std::string& unit, const std::vector<UnitProperty>& properties,
                           StatusCallback done) override {
        propertiesSet.emplace_back(unit, properties);
        loop.post([this, unit, done] {
            if (!units.contains(unit)) {
                done(ContainerError(ErrorCode::Failed, "cannot set the limits of " + unit + ": not loaded"));
                return;
            }
            done(Done{});
        });
    }
    void resetFailedUnit(const std::string& unit, StatusCallback done) override {
        loop.post([this, unit, done] {
            if (units[unit].activeState == "failed") {
                units.erase(unit);
            }
            done(Done{});
        });
    }
    void unitState(const std::string& unit, Callback<UnitState> done) override {
        loop.post([this, unit, done] { done(units.contains(unit) ? units[unit] : UnitState{}); });
    }
    void listUnits(const std::vector<std::string>&,
                   Callback<std::map<std::string, UnitState>> done) override {
        loop.post([this, done] { done(units); });
    }
    void watchUnits(const std::vector<std::string>&,
                    std::function<void(const std::string&, const UnitState&)> onChange) override {
        watcher = std::move(onChange);
    }

    Deferred& loop;
    std::vector<TransientUnit> started;
    std::vector<std::string> stopped;
    std::vector<std::pair<std::string, std::vector<UnitProperty>>> propertiesSet;
    std::map<std::string, UnitState> units;
    bool failStart = false;
    bool holdStarts = false;
    std::vector<std::function<void()>> held;
    std::vector<std::string> heldUnits;  // the unit of each held start
    std::set<std::string> cancelled;
    std::vector<std::pair<std::string, int>> killed;
    std::vector<std::string> startedUnits;  // startUnit (declarative units)
    std::function<void(const std::string&, const UnitState&)> watcher;
};

struct FakeMachines final : MachineRegistry {
    explicit FakeMachines(Deferred& loop) : loop(loop) {}
    void terminateMachine(const std::string& name, StatusCallback done) override {
        terminated.push_back(name);
        loop.post([done] { done(Done{}); });
    }
    void getMachine(const std::string& name, Callback<std::optional<MachineInfo>> done) override {
        ++lookups;
        auto answer = [this, name, done] {
            auto found = machines.find(name);
            done(found == machines.end() ? std::optional<MachineInfo>{} : std::optional(found->second));
        };
        if (holdLookups) {
            heldLookups.push_back(answer);
        } else {
            loop.post(answer);
        }
    }
    void listMachines(Callback<std::vector<MachineInfo>> done) override {
        loop.post([this, done] {
            // What happens on the bus between the units' listing and this answer.
            if (auto meanwhile = std::exchange(beforeListAnswer, nullptr)) {
                meanwhile();
            }
            std::vector<MachineInfo> all;
            for (const auto& [name, machine] : machines) {
                all.push_back(machine);
            }
            done(all);
        });
    }
    void machineAddresses(const std::string& name, Callback<std::vector<std::string>> done) override {
        ++addressQueries;
        auto answer = [this, name, done] { done(addresses[name]); };
        if (holdAddresses) {
            heldAddresses.push_back(answer);
        } else {
            loop.post(answer);
        }
    }
    void machineOSRelease(const std::string& name,
                          Callback<std::map<std::string, std::string>> done) override {
        loop.post([this, name, done] { done(osRelease[name]); });
    }
    void openShell(const std::string& name, const ShellRequest& request,
                   Callback<MachineTerminal> done) override {
        shells.emplace_back(name, request);
        answerTerminal(name, done);
    }
    void openLogin(const std::string& name, Callback<MachineTerminal> done) override {
        logins.push_back(name);
        answerTerminal(name, done);
    }
    void watchMachines(std::function<void(const std::string&, bool)> onChange) override {
        watcher = std::move(onChange);
    }
    // A terminal: the read end of a pipe stands in for the PTY's master.
    void answerTerminal(const std::string& name, const Callback<MachineTerminal>& done) {
        loop.post([this, name, done] {
            if (auto error = terminalErrors.find(name); error != terminalErrors.end()) {
                done(error->second);
                return;
            }
            int ends[2] = {-1, -1};
            if (::pipe2(ends, O_CLOEXEC) != 0) {
                done(ContainerError(ErrorCode::Failed, "pipe2 failed"));
                return;
            }
            ::close(ends[1]);
            done(MachineTerminal{std::make_shared<UniqueFd>(ends[0]), "/dev/pts/" + std::to_string(ptys++)});
        });
    }

    Deferred& loop;
    std::vector<std::pair<std::string, ShellRequest>> shells;
    std::vector<std::string> logins;
    std::map<std::string, ContainerError> terminalErrors;
    int ptys = 0;
    std::map<std::string, MachineInfo> machines;
    std::vector<std::string> terminated;
    std::map<std::string, std::vector<std::string>> addresses;
    std::map<std::string, std::map<std::string, std::string>> osRelease;
    std::function<void(const std::string&, bool)> watcher;  // MachineNew/MachineRemoved
    std::function<void()> beforeListAnswer;
    int lookups = 0;
    int addressQueries = 0;
    bool holdAddresses = false;
    // getMachine's answers wait here, in order, while holdLookups.
    bool holdLookups = false;
    std::vector<std::function<void()>> heldLookups;
    std::vector<std::function<void()>> heldAddresses;
};

struct FakeAuthorizer final : Authorizer {
    explicit FakeAuthorizer(Deferred& loop) : loop(loop) {}
    void check(const Caller& caller, const std::string& actionId,
               const std::map<std::string, std::string>& details, Callback<Authorization> done) override {
        checks.push_back({actionId, details});
        interactive.push_back(caller.allowInteractive);
        auto answer = answers.contains(caller.uid) ? answers[caller.uid] : Authorization::Denied;
        if (auto action = actionAnswers.find(actionId); action != actionAnswers.end()) {
            answer = action->second;
        }
        if (auto failure = actionFailures.find(actionId); failure != actionFailures.end()) {
            loop.post(
                [done, message = failure->second] { done(ContainerError(ErrorCode::Failed, message)); });
            return;
        }
        if (hold) {
            held.push_back([done, answer] { done(answer); });
        } else {
            loop.post([done, answer] { done(answer); });
        }
    }
    // polkit failing for one action (no answer: a timeout, polkitd gone).
    std::map<std::string, std::string> actionFailures;
    bool hold = false;
    std::vector<std::function<void()>> held;
    Deferred& loop;
    std::map<std::uint32_t, Authorization> answers;
    // An answer for one action, whoever asks (a rule such as "every plain action").
    std::map<std::string, Authorization> actionAnswers;
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> checks;
    std::vector<bool> interactive;  // each check's caller allowed interaction
};

struct FakeNetwork final : ContainerNetwork {
    void prepare(const NetworkPlan& plan) override {
        events.push_back("prepare " + plan.container);
        if (failPrepare) {
            throw ContainerError(ErrorCode::NetworkSetupFailed, "bridge 'br9' does not exist");
        }
    }
    void release(const NetworkPlan& plan) override {
        events.push_back("release " + plan.container);
        if (onRelease) {
            onRelease(plan);
        }
    }
    std::vector<std::string> events;
    std::function<void(const NetworkPlan&)> onRelease;
    bool failPrepare = false;
};

// Records the pins instead of mounting them; `refuse` makes pin() fail as a
// link found beneath a confined root would.
struct FakeBindPins final : BindPinner {
    void pin(const std::filesystem::path& directory, const std::vector<BindPin>& pins) override {
        if (!refuse.empty()) {
            throw ContainerError(ErrorCode::StartFailed, refuse);
        }
        pinned[directory.string()] = pins;
    }
    void unpin(const std::filesystem::path& directory) override {
        pinned.erase(directory.string());
        unpinned.push_back(directory.string());
    }
    std::map<std::string, std::vector<BindPin>> pinned;
    std::vector<std::string> unpinned;
    std::string refuse;
};

struct FakeProcesses final : ProcessRunner {
    explicit FakeProcesses(Deferred& loop) : loop(loop) {}
    // With holdRuns, a run waits in heldRuns until finishRun() or kill();
    // with timeOutRuns it ends as if its timeout had passed.
    ProcessId run(const ProcessRequest& request, std::function<void(const std::string&)> onLine,
                  Callback<ProcessExit> done) override {
        requests.push_back(request);
        const ProcessId id = kFirstRunId + requests.size();
        if (holdRuns || timeOutRuns) {
            heldRuns.emplace(id, done);
            if (timeOutRuns) {
                ProcessExit exit;
                exit.signal = 9;
                exit.timedOut = true;
                finishRun(id, exit);
            }
            return id;
        }
        loop.post([this, request, onLine, done] {
            onLine("building...");
            ProcessExit exit;
            exit.exitStatus = exitStatus;
            // nix-env -p PROFILE, nix build --profile PROFILE: the profile
            // now points at the result. Anything else (a switch-to-configuration) builds nothing.
            auto profile =
                std::find_if(request.argv.begin(), request.argv.end(),
                             [](const std::string& word) { return word == "-p" || word == "--profile"; });
            if (exitStatus == 0 && !buildResult.empty() && profile != request.argv.end() &&
                profile + 1 != request.argv.end()) {
                std::filesystem::remove(*(profile + 1));  // --set replaces the profile's link
                std::filesystem::create_symlink(buildResult, *(profile + 1));
            }
            done(exit);
        });
        return id;
    }
    void finishRun(ProcessId id, ProcessExit exit) {
        auto found = heldRuns.find(id);
        if (found == heldRuns.end()) {
            return;
        }
        auto done = std::move(found->second);
        heldRuns.erase(found);
        loop.post([done, exit] { done(exit); });
    }
    // Spawned commands run until finishSpawned() or kill().
    ProcessId spawn(const ConfinedRequest& request, Callback<ProcessExit> done) override {
        spawned.push_back(request);
        auto id = static_cast<ProcessId>(spawned.size());
        running.emplace(id, std::move(done));
        return id;
    }
    void kill(ProcessId id) override {
        killed.push_back(id);
        ProcessExit exit;
        exit.signal = 9;
        finishSpawned(id, exit);
        finishRun(id, exit);
    }
    void finishSpawned(ProcessId id, ProcessExit exit) {
        auto found = running.find(id);
        if (found == running.end()) {
            return;
        }
        auto done = std::move(found->second);
        running.erase(found);
        loop.post([done, exit] { done(exit); });
    }
    Deferred& loop;
    std::vector<ProcessRequest> requests;
    int exitStatus = 0;
    std::filesystem::path buildResult;
    std::vector<ConfinedRequest> spawned;
    std::map<ProcessId, Callback<ProcessExit>> running;
    std::vector<ProcessId> killed;
    // run()'s ids, apart from spawn()'s (1, 2, ...).
    static constexpr ProcessId kFirstRunId = 1000;
    bool holdRuns = false;
    bool timeOutRuns = false;
    std::map<ProcessId, Callback<ProcessExit>> heldRuns;
};

// The journal: remembers each request and answers with a socket whose other
// end has `lines` written and is closed, or throws `error`.
struct FakeJournal final : JournalReader {
    UniqueFd open(const LogRequest& request) override {
        requests.push_back(request);
        if (error) {
            throw *error;
        }
        int ends[2] = {-1, -1};
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
            throw ContainerError(ErrorCode::Failed, "socketpair");
        }
        UniqueFd writer(ends[1]);
        for (const auto& line : lines) {
            (void)!::write(writer.get(), line.data(), line.size());
        }
        return UniqueFd(ends[0]);
    }
    std::vector<LogRequest> requests;
    std::vector<std::string> lines;
    std::optional<ContainerError> error;
};

// Runs the work inline, later, as if on another thread. With `hold`, jobs
// wait in `held` until runHeld() hands them to the loop.
struct FakeWorker final : Worker {
    explicit FakeWorker(Deferred& loop) : loop(loop) {}
    void run(std::function<void()> work, StatusCallback done) override {
        auto job = [work, done] {
            try {
                work();
            } catch (const ContainerError& error) {
                done(error);
                return;
            }
            done(Done{});
        };
        if (hold) {
            held.push_back(std::move(job));
            heldAnswers.push_back(done);
        } else {
            loop.post(std::move(job));
        }
    }
    // The long lane, counted, then as run().
    void runLong(std::function<void()> work, StatusCallback done) override {
        ++longJobs;
        run(std::move(work), std::move(done));
    }
    void runHeld() {
        hold = false;
        for (auto& job : held) {
            loop.post(std::move(job));
        }
        held.clear();
        heldAnswers.clear();
    }
    // Answers the held jobs with `error` without running them: the work
    // failed (a tree that cannot be removed). Keeps holding later jobs.
    void failHeld(const ContainerError& error) {
        for (auto& done : heldAnswers) {
            loop.post([done, error] { done(error); });
        }
        held.clear();
        heldAnswers.clear();
    }
    // Runs the held jobs and keeps holding the ones they queue.
    void runHeldOnce() {
        auto jobs = std::move(held);
        held.clear();
        heldAnswers.clear();
        for (auto& job : jobs) {
            loop.post(std::move(job));
        }
    }
    Deferred& loop;
    bool hold = false;
    std::vector<std::function<void()>> held;
    int longJobs = 0;
    std::vector<StatusCallback> heldAnswers;
};

struct RecordingObserver final : ContainerObserver {
    void containerAdded(const Container& container) override { added.push_back(container.name); }
    void containerRemoved(const std::string& name) override { removed.push_back(name); }
    void containerChanged(const Container& container, ContainerFields fields) override {
        if (fields.has(ContainerField::State)) {
            states.emplace_back(toString(container.state));
        }
        if (fields.has(ContainerField::Addresses)) {
            addresses.push_back(container.addresses);
        }
    }
    void buildOutput(const std::string&, const std::string& line, const std::string& recipient) override {
        buildLines.push_back(line);
        buildRecipients.push_back(recipient);
    }
    std::vector<std::string> added, removed, states, buildLines, buildRecipients;
    std::vector<std::vector<std::string>> addresses;  // each Addresses change
};

}  // namespace nixos_containers
