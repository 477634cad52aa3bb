// The orchestration against fake seams: ordering (validate, authorise, act),
// exclusivity, exactly-once answers and leaving nothing behind. The same
// behaviours run against the real programs in tests/bus and tests/sandbox.
#include "container_manager.h"
#include "transient_unit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

// Completions run later, as the real loop runs them: never inside the call.
struct Deferred {
    std::deque<std::function<void()>> queue;
    void post(std::function<void()> work) { queue.push_back(std::move(work)); }
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
        loop.post([this, name, done] {
            auto found = machines.find(name);
            done(found == machines.end() ? std::optional<MachineInfo>{} : std::optional(found->second));
        });
    }
    void listMachines(Callback<std::vector<MachineInfo>> done) override {
        loop.post([this, done] {
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
    void watchMachines(std::function<void(const std::string&, bool)> onChange) override {
        watcher = std::move(onChange);
    }

    Deferred& loop;
    std::map<std::string, MachineInfo> machines;
    std::vector<std::string> terminated;
    std::map<std::string, std::vector<std::string>> addresses;
    std::function<void(const std::string&, bool)> watcher;  // MachineNew/MachineRemoved
    int lookups = 0;
    int addressQueries = 0;
    bool holdAddresses = false;
    std::vector<std::function<void()>> heldAddresses;
};

struct FakeAuthorizer final : Authorizer {
    explicit FakeAuthorizer(Deferred& loop) : loop(loop) {}
    void check(const Caller& caller, const std::string& actionId,
               const std::map<std::string, std::string>& details, Callback<Authorization> done) override {
        checks.push_back({actionId, details});
        auto answer = answers.contains(caller.uid) ? answers[caller.uid] : Authorization::Denied;
        if (hold) {
            held.push_back([done, answer] { done(answer); });
        } else {
            loop.post([done, answer] { done(answer); });
        }
    }
    bool hold = false;
    std::vector<std::function<void()>> held;
    Deferred& loop;
    std::map<std::uint32_t, Authorization> answers;
    std::vector<std::pair<std::string, std::map<std::string, std::string>>> checks;
};

struct FakeNetwork final : ContainerNetwork {
    void prepare(const NetworkPlan& plan) override {
        events.push_back("prepare " + plan.container);
        if (failPrepare) {
            throw ContainerError(ErrorCode::NetworkSetupFailed, "bridge 'br9' does not exist");
        }
    }
    void release(const NetworkPlan& plan) override { events.push_back("release " + plan.container); }
    std::vector<std::string> events;
    bool failPrepare = false;
};

struct FakeProcesses final : ProcessRunner {
    explicit FakeProcesses(Deferred& loop) : loop(loop) {}
    void run(const ProcessRequest& request, std::function<void(const std::string&)> onLine,
             Callback<ProcessExit> done) override {
        requests.push_back(request);
        loop.post([this, request, onLine, done] {
            onLine("building...");
            ProcessExit exit;
            exit.exitStatus = exitStatus;
            if (exitStatus == 0 && !buildResult.empty()) {
                // nix-env -p PROFILE: the profile now points at the result.
                auto profile = std::find(request.argv.begin(), request.argv.end(), "-p");
                fs::create_symlink(buildResult, *(profile + 1));
            }
            done(exit);
        });
    }
    Deferred& loop;
    std::vector<ProcessRequest> requests;
    int exitStatus = 0;
    fs::path buildResult;
};

// Runs the work inline, later, as if on another thread.
struct FakeWorker final : Worker {
    explicit FakeWorker(Deferred& loop) : loop(loop) {}
    void run(std::function<void()> work, StatusCallback done) override {
        loop.post([work, done] {
            try {
                work();
            } catch (const ContainerError& error) {
                done(error);
                return;
            }
            done(Done{});
        });
    }
    Deferred& loop;
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
    void buildOutput(const std::string&, const std::string& line) override { buildLines.push_back(line); }
    std::vector<std::string> added, removed, states, buildLines;
    std::vector<std::vector<std::string>> addresses;  // each Addresses change
};

class ContainerManagerTest : public ::testing::Test {
protected:
    ContainerManagerTest() {
        char pattern[] = "/tmp/nc-manager-XXXXXX";
        top = mkdtemp(pattern);
        settings.configDir = top / "etc";
        settings.stateDir = top / "state";
        settings.runtimeDir = top / "run";
        settings.profilesDir = top / "profiles";
        settings.gcrootsDir = top / "gcroots";
        settings.storeDir = top / "store";
        settings.nixStateDir = top / "nix";
        settings.nixBinDir = top / "bin";
        settings.resolvConf = top / "resolv.conf";
        settings.declarativeUnitDirs = {top / "units"};
        fs::create_directories(settings.storeDir / "abc-system");
        std::ofstream(settings.storeDir / "abc-system/init") << "#!/bin/sh\n";
        std::ofstream(settings.resolvConf) << "nameserver 10.0.0.1\n";
        root.uid = 0;
        user.uid = 61001;
        user.busName = ":1.42";
    }
    ~ContainerManagerTest() override { fs::remove_all(top); }

    ContainerManager& manager() {
        if (!manager_) {
            manager_ = std::make_unique<ContainerManager>(
                settings, Seams{systemd, machines, authorizer, network, processes, worker}, observer);
            bool recovered = false;
            manager_->recover([&recovered](const Status&) { recovered = true; });
            loop.drain();
            EXPECT_TRUE(recovered);
        }
        return *manager_;
    }

    ContainerSpec systemSpec() {
        ContainerSpec spec;
        spec.systemPath = (settings.storeDir / "abc-system").string();
        return spec;
    }

    Outcome<std::string> create(const std::string& name, ContainerSpec spec, const Caller& caller) {
        std::optional<Outcome<std::string>> answer;
        int answers = 0;
        manager().create(caller, name, std::move(spec), [&](Outcome<std::string> result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Outcome<std::string>(ContainerError(ErrorCode::Failed, "no answer")));
    }

    // "web" with a private network; machined will report 10.233.0.2 and
    // fe80::2 for it, but answers only when the test runs its held answer.
    void createWebWithMachinedAddressesHeld() {
        auto spec = systemSpec();
        spec.privateNetwork = true;
        ASSERT_TRUE(create("web", spec, root).ok());
        machines.machines["web"] = {"web", "nixos-container@web.service", 4242};
        machines.addresses["web"] = {"10.233.0.2", "fe80::2"};
        machines.holdAddresses = true;
    }

    // Two verbs on one container, the second sent before anything of the
    // first ran (as two callers racing); their answers once all is done.
    std::pair<std::optional<Status>, std::optional<Status>> performRacing(Verb first, Verb second,
                                                                          const std::string& name) {
        std::pair<std::optional<Status>, std::optional<Status>> answers;
        manager().perform(root, first, name,
                          [&answers](Status status) { answers.first = std::move(status); });
        manager().perform(root, second, name,
                          [&answers](Status status) { answers.second = std::move(status); });
        loop.drain();
        return answers;
    }

    Status perform(Verb verb, const std::string& name, const Caller& caller) {
        std::optional<Status> answer;
        int answers = 0;
        manager().perform(caller, verb, name, [&](Status result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Status(ContainerError(ErrorCode::Failed, "no answer")));
    }

    fs::path top;
    Settings settings;
    Deferred loop;
    FakeSystemd systemd{loop};
    FakeMachines machines{loop};
    FakeAuthorizer authorizer{loop};
    FakeNetwork network;
    FakeProcesses processes{loop};
    FakeWorker worker{loop};
    RecordingObserver observer;
    Caller root;
    Caller user;
    std::unique_ptr<ContainerManager> manager_;
};

TEST_F(ContainerManagerTest, CreateWritesTheConfAndPublishesTheContainer) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    auto created = create("web", spec, root);
    ASSERT_TRUE(created.ok()) << created.error().what();
    EXPECT_TRUE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_TRUE(fs::is_symlink(settings.profilesDir / "web/system"));
    EXPECT_THAT(observer.added, Contains("web"));
    const auto& container = manager().get("web");
    EXPECT_EQ(container.spec.network.hostAddress, "10.233.0.1");
    EXPECT_EQ(container.spec.network.localAddress, "10.233.0.2");
    EXPECT_EQ(container.hostInterface, "ve-web");
    // A second private network gets the next pair.
    ASSERT_TRUE(create("db", spec, root).ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress, "10.233.1.1");
}

TEST_F(ContainerManagerTest, AHostPortIsForwardedToOneContainerOnly) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    spec.forwardPorts = {{"tcp", 8080, 80}};
    ASSERT_TRUE(create("web", spec, root).ok());
    auto clash = create("web2", spec, root);
    ASSERT_FALSE(clash.ok());
    EXPECT_EQ(clash.error().code(), ErrorCode::InvalidArgument);
    EXPECT_THAT(clash.error().what(), HasSubstr("tcp port 8080 is already forwarded to container 'web'"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web2.conf"));
    spec.forwardPorts = {{"udp", 8080, 80}};  // another protocol is another port
    EXPECT_TRUE(create("web3", spec, root).ok());
}

TEST_F(ContainerManagerTest, InvalidInputIsRefusedBeforeAuthorizationAndLeavesNothing) {
    auto spec = systemSpec();
    spec.forwardPorts = {{"sctp", 80, 0}};
    spec.privateNetwork = true;
    auto created = create("web", spec, user);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().code(), ErrorCode::InvalidArgument);
    EXPECT_TRUE(authorizer.checks.empty());
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));

    auto badName = create("a/b", systemSpec(), root);
    ASSERT_FALSE(badName.ok());
    EXPECT_THAT(badName.error().what(), HasSubstr("'a/b'"));
}

TEST_F(ContainerManagerTest, DeniedCreateChangesNothingAndFreesTheName) {
    authorizer.answers[61001] = Authorization::Denied;
    auto denied = create("web", systemSpec(), user);
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.error().code(), ErrorCode::AccessDenied);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.create");
    EXPECT_EQ(authorizer.checks[0].second.at("container"), "web");
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));
    EXPECT_EQ(manager().operationsInFlight(), 0U);

    authorizer.answers[61001] = Authorization::ChallengeRequired;
    auto challenged = create("web", systemSpec(), user);
    ASSERT_FALSE(challenged.ok());
    EXPECT_EQ(challenged.error().code(), ErrorCode::InteractiveAuthorizationRequired);

    authorizer.answers[61001] = Authorization::Allowed;
    EXPECT_TRUE(create("web", systemSpec(), user).ok());
}

TEST_F(ContainerManagerTest, ACallerWaitingForPolkitHoldsNothing) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    spec.forwardPorts = {{"tcp", 8080, 0}};
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    authorizer.answers[61001] = Authorization::Allowed;
    authorizer.hold = true;  // a polkit agent that takes its time
    std::vector<Status> started;
    std::vector<Outcome<std::string>> created;
    manager().perform(user, Verb::Start, "web", [&](Status status) { started.push_back(status); });
    manager().create(user, "db", spec, [&](Outcome<std::string> result) { created.push_back(result); });
    loop.drain();
    EXPECT_TRUE(manager().get("web").operation.empty());
    EXPECT_EQ(manager().operationsInFlight(), 0U);
    // Root is not blocked, and the name, port and addresses are still free.
    EXPECT_TRUE(perform(Verb::Stop, "web", root).ok());
    auto competing = create("db", spec, root);
    ASSERT_TRUE(competing.ok());
    EXPECT_EQ(manager().get("db").spec.network.hostAddress, "10.233.0.1");
    // When polkit finally answers, the world is checked again.
    for (auto& answer : authorizer.held) {
        answer();
    }
    loop.drain();
    ASSERT_EQ(started.size(), 1U);
    EXPECT_TRUE(started[0].ok());
    ASSERT_EQ(created.size(), 1U);
    ASSERT_FALSE(created[0].ok());
    EXPECT_EQ(created[0].error().code(), ErrorCode::AlreadyExists);
}

TEST_F(ContainerManagerTest, StartPreparesTheNetworkBeforeTheUnitAndStopReleasesIt) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242};
    auto started = perform(Verb::Start, "web", root);
    ASSERT_TRUE(started.ok()) << started.error().what();
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].name, "nixos-container@web.service");
    EXPECT_THAT(machines.terminated, Contains("web"));  // stale registration first
    EXPECT_THAT(network.events, Contains("prepare web"));
    const auto& container = manager().get("web");
    EXPECT_EQ(container.state, ContainerState::Running);
    EXPECT_EQ(container.leader, 4242U);
    EXPECT_TRUE(fs::exists(container.root / "etc/os-release"));
    EXPECT_TRUE(fs::exists(container.root / "etc/resolv.conf"));
    EXPECT_THAT(observer.states, Contains("starting"));

    network.events.clear();
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    EXPECT_THAT(network.events, Contains("release web"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_EQ(manager().get("web").leader, 0U);
}

// machined reads a container's addresses inside it, which takes
// milliseconds: Start does not wait for them.
TEST_F(ContainerManagerTest, StartAnswersBeforeMachinedsAddressesWhichFollow) {
    createWebWithMachinedAddressesHeld();
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
    EXPECT_EQ(manager().get("web").addresses, std::vector<std::string>{"10.233.0.2"});  // planned
    ASSERT_EQ(machines.heldAddresses.size(), 1U);

    observer.addresses.clear();
    machines.heldAddresses[0]();
    loop.drain();
    EXPECT_EQ(manager().get("web").addresses, (std::vector<std::string>{"10.233.0.2", "fe80::2"}));
    EXPECT_THAT(observer.addresses, Contains(std::vector<std::string>{"10.233.0.2", "fe80::2"}));
}

TEST_F(ContainerManagerTest, AStartLearnsItsLeaderFromMachineNewAndAnswersWithoutAskingAgain) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    systemd.holdStarts = true;
    std::optional<Status> answer;
    manager().perform(root, Verb::Start, "web", [&](Status status) { answer = std::move(status); });
    loop.drain();
    ASSERT_EQ(systemd.held.size(), 1U);
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242};
    ASSERT_TRUE(machines.watcher);
    machines.watcher("web", true);  // nspawn registered the machine; the init is not ready yet
    loop.drain();
    EXPECT_EQ(manager().get("web").leader, 4242U);
    EXPECT_FALSE(answer.has_value());

    const int lookups = machines.lookups;
    systemd.held[0]();
    loop.drain();
    ASSERT_TRUE(answer.has_value());
    EXPECT_TRUE(answer->ok());
    EXPECT_EQ(machines.lookups, lookups);  // answered without another lookup
    EXPECT_EQ(manager().get("web").state, ContainerState::Running);
    EXPECT_EQ(manager().get("web").leader, 4242U);
}

TEST_F(ContainerManagerTest, AStartNeverKeepsTheLeaderOfAnEarlierMachine) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 111};  // a stale registration
    machines.watcher("web", true);
    loop.drain();
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
}

TEST_F(ContainerManagerTest, AMachineOfItsNameDoesNotGiveAStoppedContainerALeader) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "other.service", 777};  // somebody else's nspawn -M web
    machines.watcher("web", true);
    loop.drain();
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_EQ(manager().get("web").leader, 0U);
}

TEST_F(ContainerManagerTest, AddressesAnsweredAfterTheContainerStoppedAreDropped) {
    createWebWithMachinedAddressesHeld();
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    machines.machines.erase("web");
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    ASSERT_FALSE(machines.heldAddresses.empty());
    machines.heldAddresses[0]();
    loop.drain();
    EXPECT_EQ(manager().get("web").addresses, std::vector<std::string>{"10.233.0.2"});
}

TEST_F(ContainerManagerTest, WithoutAPrivateNetworkMachinedIsNotAskedForAddresses) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    machines.machines["web"] = {"web", "nixos-container@web.service", 4242};
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_EQ(manager().get("web").leader, 4242U);
    EXPECT_EQ(machines.addressQueries, 0);
}

// As systemctl stop: a Stop while the container starts cancels the start
// instead of waiting for it (up to TimeoutStartSec) or answering Busy.
TEST_F(ContainerManagerTest, AStopWhileTheJobRunsCancelsTheStart) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    systemd.holdStarts = true;
    std::optional<Status> started;
    manager().perform(root, Verb::Start, "web", [&](Status status) { started = std::move(status); });
    loop.drain();
    ASSERT_EQ(systemd.held.size(), 1U);
    EXPECT_EQ(manager().get("web").state, ContainerState::Starting);

    auto stopped = perform(Verb::Stop, "web", root);  // drains: the cancel, then the stop
    EXPECT_TRUE(stopped.ok()) << stopped.error().what();
    ASSERT_TRUE(started.has_value());
    ASSERT_FALSE(started->ok());
    EXPECT_EQ(started->error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started->error().what(), HasSubstr("the start of 'web' was cancelled by a stop"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    EXPECT_TRUE(manager().get("web").operation.empty());
    EXPECT_THAT(network.events, Contains("release web"));
    EXPECT_EQ(manager().operationsInFlight(), 0U);
    // Killed, not halted: nspawn can lose a halt that comes before the init runs.
    ASSERT_EQ(systemd.killed.size(), 1U);
    EXPECT_EQ(systemd.killed[0], std::make_pair(std::string("nixos-container@web.service"), int{SIGKILL}));
}

TEST_F(ContainerManagerTest, AStopBeforeTheUnitIsAskedForStartsNothing) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    // The Terminate comes while the Start is in its pre-start steps.
    auto [started, stopped] = performRacing(Verb::Start, Verb::Terminate, "web");
    ASSERT_TRUE(started.has_value());
    EXPECT_EQ(started->error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started->error().what(), HasSubstr("cancelled by a terminate"));
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok()) << stopped->error().what();
    EXPECT_TRUE(systemd.started.empty());  // no unit was ever asked for
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

TEST_F(ContainerManagerTest, AStopDuringARestartCancelsTheStartHalf) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    const auto startsBefore = systemd.started.size();
    // The Stop comes while the Restart still stops: its start half has not begun.
    auto [restarted, stopped] = performRacing(Verb::Restart, Verb::Stop, "web");
    ASSERT_TRUE(restarted.has_value());
    EXPECT_EQ(restarted->error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(restarted->error().what(), HasSubstr("the restart of 'web' was cancelled by a stop"));
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok());
    EXPECT_EQ(systemd.started.size(), startsBefore);  // never started again
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

TEST_F(ContainerManagerTest, AStopDuringTheRestartOfADeclarativeContainerStartsNothing) {
    fs::create_directories(settings.configDir);
    std::ofstream(settings.configDir / "decl.conf")
        << "SYSTEM_PATH=" << (settings.storeDir / "abc-system").string() << "\n";
    fs::permissions(settings.configDir / "decl.conf", fs::perms::owner_read | fs::perms::group_read);
    systemd.units["container@decl.service"] = {"active", "running", ""};
    machines.machines["decl"] = {"decl", "container@decl.service", 77};
    ASSERT_TRUE(manager().get("decl").declarative);
    auto [restarted, stopped] = performRacing(Verb::Restart, Verb::Stop, "decl");
    ASSERT_TRUE(restarted.has_value());
    EXPECT_EQ(restarted->error().code(), ErrorCode::StartFailed);
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->ok());
    EXPECT_TRUE(systemd.startedUnits.empty());  // its start half never ran
}

TEST_F(ContainerManagerTest, OnlyOneStopWaitsForACancelledStart) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    systemd.holdStarts = true;
    std::vector<Status> answers;
    manager().perform(root, Verb::Start, "web", [&](Status status) { answers.push_back(status); });
    loop.drain();
    std::optional<Status> first;
    manager().perform(root, Verb::Stop, "web", [&](Status status) { first = std::move(status); });
    auto second = perform(Verb::Stop, "web", root);
    EXPECT_EQ(second.error().code(), ErrorCode::Busy);
    loop.drain();
    ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(first->ok());
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_EQ(answers[0].error().code(), ErrorCode::StartFailed);
}

// nspawn leaves .#NAME.lck beside the root when it is killed.
TEST_F(ContainerManagerTest, DestroyRemovesTheLockFileAKilledNspawnLeft) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    fs::create_directories(settings.stateDir);
    const auto lock = settings.stateDir / ".#web.lck";
    std::ofstream(lock) << "";
    ASSERT_TRUE(fs::exists(lock));
    const auto other = settings.stateDir / ".#webby.lck";  // another container's
    std::ofstream(other) << "";
    ASSERT_TRUE(perform(Verb::Destroy, "web", root).ok());
    EXPECT_FALSE(fs::exists(fs::symlink_status(lock)));
    EXPECT_TRUE(fs::exists(other));
}

TEST_F(ContainerManagerTest, ASecondOperationOnABusyContainerIsBusy) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    systemd.holdStarts = true;
    std::vector<Status> answers;
    manager().perform(root, Verb::Start, "web", [&](Status status) { answers.push_back(status); });
    loop.drain();
    EXPECT_EQ(manager().get("web").state, ContainerState::Starting);
    for (auto verb : {Verb::Start, Verb::Restart, Verb::Reload, Verb::Destroy}) {
        auto busy = perform(verb, "web", root);
        ASSERT_FALSE(busy.ok());
        EXPECT_EQ(busy.error().code(), ErrorCode::Busy) << toString(verb);
    }
    EXPECT_TRUE(answers.empty());
    for (auto& finish : systemd.held) {
        finish();
    }
    loop.drain();
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_TRUE(answers[0].ok());
}

TEST_F(ContainerManagerTest, FailedStartReportsTheUnitResultAndReleasesTheNetwork) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    systemd.failStart = true;
    auto started = perform(Verb::Start, "web", root);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::StartFailed);
    EXPECT_THAT(started.error().what(), HasSubstr("exit-code"));
    EXPECT_EQ(manager().get("web").state, ContainerState::Failed);
    EXPECT_THAT(network.events, Contains("release web"));
    // Stop forgets the failure, and the next Start works.
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
    systemd.failStart = false;
    EXPECT_TRUE(perform(Verb::Start, "web", root).ok());
}

TEST_F(ContainerManagerTest, NetworkFailureIsNamedAndNothingStarts) {
    auto spec = systemSpec();
    spec.privateNetwork = true;
    ASSERT_TRUE(create("web", spec, root).ok());
    network.failPrepare = true;
    auto started = perform(Verb::Start, "web", root);
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().code(), ErrorCode::NetworkSetupFailed);
    EXPECT_THAT(started.error().what(), HasSubstr("br9"));
    EXPECT_TRUE(systemd.started.empty());
    EXPECT_EQ(manager().get("web").state, ContainerState::Stopped);
}

TEST_F(ContainerManagerTest, TooManyOperationsInFlightIsLimitsExceeded) {
    settings.maxOperations = 1;
    ASSERT_TRUE(create("a", systemSpec(), root).ok());
    ASSERT_TRUE(create("b", systemSpec(), root).ok());
    systemd.holdStarts = true;
    manager().perform(root, Verb::Start, "a", [](const Status&) {});
    loop.drain();
    auto limited = perform(Verb::Start, "b", root);
    ASSERT_FALSE(limited.ok());
    EXPECT_EQ(limited.error().code(), ErrorCode::LimitsExceeded);
}

TEST_F(ContainerManagerTest, DestroyRemovesEverythingOnDisk) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    ASSERT_TRUE(perform(Verb::Start, "web", root).ok());
    auto rootDir = manager().get("web").root;
    ASSERT_TRUE(perform(Verb::Destroy, "web", root).ok());
    EXPECT_THAT(systemd.stopped, Contains("nixos-container@web.service"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(rootDir));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));
    EXPECT_FALSE(fs::exists(settings.gcrootsDir / "web"));
    EXPECT_THAT(observer.removed, Contains("web"));
    EXPECT_EQ(manager().find("web"), nullptr);
    auto gone = perform(Verb::Start, "web", root);
    EXPECT_EQ(gone.error().code(), ErrorCode::NoSuchContainer);
}

TEST_F(ContainerManagerTest, FailedBuildLeavesNothingBehind) {
    processes.exitStatus = 1;
    ContainerSpec spec;
    spec.config = "services.nginx.enable = true;";
    auto created = create("web", spec, root);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().code(), ErrorCode::BuildFailed);
    EXPECT_THAT(created.error().what(), HasSubstr("building..."));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.conf"));
    EXPECT_FALSE(fs::exists(settings.configDir / "web.nix"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "web"));
    EXPECT_THAT(observer.buildLines, Contains("building..."));
}

TEST_F(ContainerManagerTest, BuildLinksTheProfileTheWayNixosContainerDoes) {
    processes.buildResult = settings.storeDir / "abc-system";
    ContainerSpec spec;
    spec.config = "services.nginx.enable = true;";
    ASSERT_TRUE(create("web", spec, root).ok());
    ASSERT_EQ(processes.requests.size(), 1U);
    const auto& argv = processes.requests[0].argv;
    EXPECT_EQ(argv[0], (settings.nixBinDir / "nix-env").string());
    EXPECT_THAT(argv, Contains("nixos-config=" + (settings.configDir / "web.nix").string()));
    EXPECT_EQ(manager().get("web").spec.config, "services.nginx.enable = true;");
}

TEST_F(ContainerManagerTest, RecoveryTakesStateFromSystemdAndMachinedAndAutoStarts) {
    ASSERT_TRUE(create("running", systemSpec(), root).ok());
    auto autoSpec = systemSpec();
    autoSpec.autoStart = true;
    ASSERT_TRUE(create("auto", autoSpec, root).ok());
    manager_.reset();  // the service is restarted

    systemd.units["nixos-container@running.service"] = {"active", "running", ""};
    machines.machines["running"] = {"running", "nixos-container@running.service", 99};
    systemd.started.clear();
    auto& restarted = manager();
    EXPECT_EQ(restarted.get("running").state, ContainerState::Running);
    EXPECT_EQ(restarted.get("running").leader, 99U);
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].name, "nixos-container@auto.service");
    EXPECT_EQ(restarted.get("auto").state, ContainerState::Running);
}

TEST_F(ContainerManagerTest, DeclarativeContainersCannotBeChangedOrDestroyed) {
    fs::create_directories(settings.configDir);
    std::ofstream(settings.configDir / "nixos.conf")
        << "SYSTEM_PATH=" << (settings.storeDir / "abc-system").string() << "\n";
    fs::permissions(settings.configDir / "nixos.conf", fs::perms::owner_read | fs::perms::group_read);
    fs::create_directories(settings.declarativeUnitDirs[0]);
    auto& service = manager();
    ASSERT_NE(service.find("nixos"), nullptr);
    EXPECT_TRUE(service.get("nixos").declarative);
    EXPECT_EQ(service.get("nixos").unit, "container@nixos.service");
    auto destroyed = perform(Verb::Destroy, "nixos", root);
    EXPECT_EQ(destroyed.error().code(), ErrorCode::Declarative);
    std::optional<Status> updated;
    SpecPatch patch;
    patch.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    service.update(root, "nixos", patch, [&](Status status) { updated = status; });
    loop.drain();
    ASSERT_TRUE(updated);
    EXPECT_EQ(updated->error().code(), ErrorCode::Declarative);
    EXPECT_TRUE(fs::exists(settings.configDir / "nixos.conf"));
}

}  // namespace
}  // namespace nixos_containers
