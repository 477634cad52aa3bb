// Issue 27: every spec key takes effect where its row says (SpecKey::effects).
// A container is created and started over the fakes with the key at a
// sample value and once without it; nspawn's argv, the unit's other
// properties, the network plan, the builder's command and NAME.conf are
// compared. A key stored and shown but never applied (its nspawn argument
// forgotten) shows no effect where its row declares one, and fails here.
#include "container_manager.h"
#include "fake_seams.h"
#include "network_plan.h"
#include "spec_keys.h"
#include "temp_settings.h"
#include "transient_unit.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;

// The service over the fakes, in a directory that is the same for every
// world of a test, so that paths in the argv and the unit compare equal.
// The files a sample names (a second system, a module file, a nixos
// directory, a bind's host path) exist in every world.
class World {
public:
    explicit World(const fs::path& top) : settings_(settingsUnder(top)) {
        for (const auto* system : {"abc-system", "def-system"}) {
            fs::create_directories(settings_.storeDir / system);
            std::ofstream(settings_.storeDir / system / "init") << "#!/bin/sh\n";
        }
        // As the service keeps them (ContainerStore::secureTrees), so that
        // its start warns of nothing.
        for (const auto& tree :
             {settings_.stateDir, settings_.runtimeDir, settings_.profilesDir, settings_.gcrootsDir}) {
            fs::create_directories(tree);
            fs::permissions(tree, fs::perms::owner_all);
        }
        std::ofstream(settings_.resolvConf) << "nameserver 10.0.0.1\n";
        std::ofstream(top / "module.nix") << "{ }\n";
        fs::create_directories(top / "nixos");
        fs::create_directories(top / "data");
        // A build links the profile to the system a SystemPath names, so a
        // source changes the build and nothing else.
        processes_.buildResult = settings_.storeDir / "abc-system";
        manager_ = std::make_unique<ContainerManager>(
            settings_,
            Seams{systemd_, machines_, authorizer_, network_, binds_, processes_, worker_, journal_},
            observer_);
        manager_->recover([](const Status&) {});
        loop_.drain();
    }

    // Created by root (who may have every key) and started; the error of
    // whichever failed.
    std::optional<std::string> createAndStart(const std::string& name, const ContainerSpec& spec) {
        Caller root;
        root.uid = 0;
        root.busName = ":1.1";
        std::optional<std::string> error;
        manager_->create(root, name, spec, [&error](const Outcome<std::string>& created) {
            if (!created.ok()) {
                error = std::string("Create: ") + created.error().what();
            }
        });
        loop_.drain();
        if (error) {
            return error;
        }
        machines_.machines[name] = {name, serviceUnitName(name), 4242, "", 0};
        manager_->perform(root, Verb::Start, name, [&error](const Status& started) {
            if (!started.ok()) {
                error = std::string("Start: ") + started.error().what();
            }
        });
        loop_.drain();
        return error;
    }

    // An Update by root; its error, if any.
    std::optional<std::string> update(const std::string& name, const SpecPatch& patch) {
        Caller root;
        root.uid = 0;
        root.busName = ":1.1";
        std::optional<std::string> error;
        manager_->update(root, name, patch, [&error](const Status& updated) {
            if (!updated.ok()) {
                error = std::string("Update: ") + updated.error().what();
            }
        });
        loop_.drain();
        return error;
    }

    [[nodiscard]] const Settings& settings() const { return settings_; }
    [[nodiscard]] const ContainerManager& manager() const { return *manager_; }
    [[nodiscard]] std::size_t unitsStopped() const { return systemd_.stopped.size(); }
    [[nodiscard]] std::size_t unitPropertiesSet() const { return systemd_.propertiesSet.size(); }
    [[nodiscard]] const std::vector<TransientUnit>& startedUnits() const { return systemd_.started; }
    [[nodiscard]] const std::vector<ProcessRequest>& processRequests() const { return processes_.requests; }

private:
    Settings settings_;
    Deferred loop_;
    FakeSystemd systemd_{loop_};
    FakeMachines machines_{loop_};
    FakeAuthorizer authorizer_{loop_};
    FakeNetwork network_;
    FakeBindPins binds_;
    FakeProcesses processes_{loop_};
    FakeWorker worker_{loop_};
    FakeJournal journal_;
    RecordingObserver observer_;
    std::unique_ptr<ContainerManager> manager_;
};

template <typename Items>
std::string joined(const Items& items) {
    std::ostringstream out;
    for (const auto& item : items) {
        out << item << '\n';
    }
    return out.str();
}

std::string fileText(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Every property but ExecStart (the argv, compared on its own).
std::string describe(const TransientUnit& unit) {
    std::ostringstream out;
    out << unit.name << '|' << unit.description << '|' << unit.slice << '|' << unit.type << '|'
        << unit.notifyAccess << '|' << unit.delegate << '|' << unit.killMode << '|' << unit.killSignal << '|'
        << joined(unit.successExitStatus) << joined(unit.restartForceExitStatus) << unit.restart << '|'
        << unit.timeoutStartUsec << '|' << unit.timeoutStartFailureMode << '|' << unit.devicePolicy << '|'
        << unit.networkNamespacePath << '|' << unit.syslogIdentifier << '\n';
    for (const auto& limit : unit.limits) {
        out << "limit " << limit.name << '=' << limit.value << '\n';
    }
    for (const auto& [node, modifier] : unit.deviceAllow) {
        out << "device " << node << ' ' << modifier << '\n';
    }
    out << joined(unit.runtimeDirectory) << joined(unit.requiresMountsFor) << joined(unit.environment);
    return out.str();
}

void describe(std::ostream& out, const VethPlan& veth) {
    out << veth.hostName << '|' << veth.hostAltName << '|' << veth.containerName << '|' << veth.containerMac
        << '|' << veth.options.hostAddress << '|' << veth.options.localAddress << '|'
        << veth.options.hostAddress6 << '|' << veth.options.localAddress6 << '|' << veth.options.hostBridge
        << '\n';
}

std::string describe(const std::optional<NetworkPlan>& plan) {
    if (!plan) {
        return "none";
    }
    std::ostringstream out;
    out << plan->container << '|' << plan->netnsPin.string() << '|' << plan->unprivilegedRoot << '\n';
    if (plan->mainVeth) {
        describe(out, *plan->mainVeth);
    }
    for (const auto& veth : plan->extraVeths) {
        describe(out, veth);
    }
    out << joined(plan->moveInterfaces) << "macvlans\n" << joined(plan->macvlanParents);
    return out.str();
}

// What one started container shows, channel by channel.
struct Observed {
    std::vector<std::string> nspawnArgv;
    std::string unit;
    std::string network;
    std::string build;   // the builder's commands and the module text they read
    std::string stored;  // NAME.conf
};

KeyEffect differences(const Observed& before, const Observed& after) {
    auto effects = KeyEffect::None;
    auto add = [&effects](bool differs, KeyEffect effect) {
        if (differs) {
            effects = effects | effect;
        }
    };
    add(before.nspawnArgv != after.nspawnArgv, KeyEffect::Nspawn);
    add(before.unit != after.unit, KeyEffect::Unit);
    add(before.network != after.network, KeyEffect::Network);
    add(before.build != after.build, KeyEffect::Build);
    if (effects == KeyEffect::None && before.stored != after.stored) {
        effects = KeyEffect::StoredOnly;
    }
    return effects;
}

// The words one argv has and the other lacks, for a failure's message.
std::string argvChange(const Observed& before, const Observed& after) {
    const std::set<std::string> had(before.nspawnArgv.begin(), before.nspawnArgv.end());
    const std::set<std::string> has(after.nspawnArgv.begin(), after.nspawnArgv.end());
    std::string change;
    for (const auto& word : has) {
        change += had.contains(word) ? "" : " +" + word;
    }
    for (const auto& word : had) {
        change += has.contains(word) ? "" : " -" + word;
    }
    return change.empty() ? " the same" : change;
}

std::string describe(KeyEffect effects) {
    static const std::map<KeyEffect, const char*> kNames = {{KeyEffect::Nspawn, "Nspawn"},
                                                            {KeyEffect::Unit, "Unit"},
                                                            {KeyEffect::Network, "Network"},
                                                            {KeyEffect::Build, "Build"},
                                                            {KeyEffect::StoredOnly, "StoredOnly"}};
    std::string text;
    for (const auto& [effect, name] : kNames) {
        if (affects(effects, effect)) {
            text += (text.empty() ? "" : "|") + std::string(name);
        }
    }
    return text.empty() ? "none (not even NAME.conf)" : text;
}

// How a key is set away from its default in a spec that can start.
struct Sample {
    // The value; `top` is the world's directory, for a value that names a file.
    std::function<SpecValue(const fs::path& top)> value;
    // What else the key needs to be valid (a private network, a build), set
    // in both specs compared.
    std::function<void(ContainerSpec&)> context = [](ContainerSpec&) {};
};

Sample valueOf(SpecValue value) {
    return {[value](const fs::path&) { return value; }};
}
Sample inPrivateNetwork(SpecValue value) {
    return {[value](const fs::path&) { return value; },
            [](ContainerSpec& spec) { spec.privateNetwork = true; }};
}
// With a main veth whose address the caller gave, so that the sample
// changes only its own key (given none, Create picks a pair from the pool,
// and any key of the main veth drops that pair). Its host end gets no
// address: HostBridge excludes one.
Sample onMainVeth(SpecValue value) {
    return {[value](const fs::path&) { return value; },
            [](ContainerSpec& spec) {
                spec.privateNetwork = true;
                spec.network.localAddress = "10.233.9.2";
            }};
}
Sample inBuiltContainer(std::function<SpecValue(const fs::path&)> value) {
    return {std::move(value), [](ContainerSpec& spec) {
                spec.systemPath.clear();
                spec.config = "{ }";
            }};
}
using Words = std::vector<std::string>;

// One per row: a new key fails SpecKeyEffects.EveryRowHasASampleAndEverySampleARow
// until it has one here.
const std::map<std::string, Sample>& samples() {
    static const std::map<std::string, Sample> kSamples = {
        // SystemPath's default names no system: the sample is another one.
        {"SystemPath", {[](const fs::path& top) { return SpecValue((top / "store/def-system").string()); }}},
        {"ConfigFile", {[](const fs::path& top) { return SpecValue((top / "module.nix").string()); }}},
        {"Flake", valueOf(std::string("/srv/flake#web"))},
        {"Config", valueOf(std::string("{ services.nginx.enable = true; }"))},
        {"NixFlags", inBuiltContainer([](const fs::path&) { return SpecValue(Words{"--show-trace"}); })},
        {"NixosPath",
         inBuiltContainer([](const fs::path& top) { return SpecValue((top / "nixos").string()); })},
        {"PrivateNetwork", valueOf(true)},
        {"NetworkNamespace", valueOf(std::string("/proc/self/ns/net"))},
        {"HostBridge", onMainVeth(std::string("br0"))},
        {"ForwardPorts", inPrivateNetwork(std::vector<PortForward>{{"tcp", 8080, 80}})},
        {"HostAddress", onMainVeth(std::string("10.233.4.1"))},
        {"HostAddress6", onMainVeth(std::string("fc00::1"))},
        {"LocalAddress", onMainVeth(std::string("10.233.4.2"))},
        {"LocalAddress6", onMainVeth(std::string("fc00::2"))},
        {"LocalMacAddress", onMainVeth(std::string("02:00:00:00:00:01"))},
        {"Interfaces", inPrivateNetwork(Words{"eth9"})},
        {"Macvlans", inPrivateNetwork(Words{"eth9"})},
        {"AutoStart", valueOf(true)},
        {"BindMounts", {[](const fs::path& top) {
             return SpecValue(std::vector<BindMount>{{"/data", (top / "data").string(), true}});
         }}},
        {"ExtraFlags", valueOf(Words{"--hostname=web2"})},
        {"Ephemeral", valueOf(true)},
        {"CopyResolvConf", valueOf(false)},
        {"EnableTun", valueOf(true)},
        {"TimeoutStartSec", valueOf(std::string("5min"))},
        {"MemoryMax", valueOf(std::string("1G"))},
        {"MemoryHigh", valueOf(std::string("512M"))},
        {"CPUWeight", valueOf(std::string("200"))},
        {"CPUQuota", valueOf(std::string("50%"))},
        {"TasksMax", valueOf(std::string("512"))},
        {"IOWeight", valueOf(std::string("200"))},
        {"PrivateUsers", valueOf(std::string("pick"))},
        {"AdditionalCapabilities", valueOf(Words{"CAP_SYS_TIME"})},
        {"Tmpfs", valueOf(Words{"/var/cache"})},
        {"AllowedDevices", valueOf(std::vector<AllowedDevice>{{"/dev/fuse", "rw"}})},
        {"ExtraVeths", inPrivateNetwork(std::map<std::string, NetworkOptions>{
                           {"ve-extra", {"10.233.5.1", "10.233.5.2", "", "", ""}}})},
    };
    return kSamples;
}

class SpecKeyEffects : public ::testing::Test {
protected:
    ~SpecKeyEffects() override { fs::remove_all(top_); }

    // Created and started in a world of its own; fails the test when the
    // spec cannot be.
    std::optional<Observed> observe(const ContainerSpec& spec) {
        fs::remove_all(top_);
        fs::create_directories(top_);
        fs::permissions(top_, fs::perms::owner_all);  // as mkdtemp makes it: the service checks
        World world(top_);
        if (const auto error = world.createAndStart("web", spec)) {
            ADD_FAILURE() << *error;
            return std::nullopt;
        }
        if (world.startedUnits().empty()) {
            ADD_FAILURE() << "Start started no unit";
            return std::nullopt;
        }
        Observed observed;
        auto unit = world.startedUnits().back();
        observed.nspawnArgv = unit.execStart;
        unit.execStart.clear();
        observed.unit = describe(unit);
        observed.network = describe(planNetwork("web", world.manager().get("web").spec, world.settings()));
        for (const auto& request : world.processRequests()) {
            observed.build += joined(request.argv) + joined(request.environment) + "--\n";
        }
        observed.build += fileText(world.settings().configDir / "web.nix");
        observed.stored = fileText(world.settings().configDir / "web.conf");
        return observed;
    }

    // As a Create over the bus makes it: PrivateUsers left to the service.
    [[nodiscard]] ContainerSpec baseSpec() const {
        ContainerSpec spec;
        spec.systemPath = (top_ / "store/abc-system").string();
        spec.privateUsers.clear();
        return spec;
    }

    const fs::path top_ = fs::temp_directory_path() / ("nc-key-effects-" + std::to_string(::getpid()));
};

TEST_F(SpecKeyEffects, EveryRowHasASampleAndEverySampleARow) {
    for (const auto& key : specKeys()) {
        EXPECT_TRUE(samples().contains(std::string(key.busName)))
            << key.busName
            << " has no sample in spec_key_effects_test.cpp: add a value away from its default";
    }
    for (const auto& [name, sample] : samples()) {
        EXPECT_NE(findSpecKey(name), nullptr) << "the sample of " << name << " has no row";
    }
}

TEST_F(SpecKeyEffects, EveryRowDeclaresAnEffectAndStoredOnlyAlone) {
    for (const auto& key : specKeys()) {
        EXPECT_NE(key.effects, KeyEffect::None) << key.busName << " declares no effect";
        EXPECT_TRUE(!affects(key.effects, KeyEffect::StoredOnly) || key.effects == KeyEffect::StoredOnly)
            << key.busName << ": StoredOnly and another effect";
    }
}

// The row's two answers agree: a key only NAME.conf holds asks nothing of a
// running container, any other asks something; what changes the build is
// rebuilt and switched to (Reload), not restarted.
TEST_F(SpecKeyEffects, TheEffectAndTheUpdateEffectAgree) {
    for (const auto& key : specKeys()) {
        EXPECT_EQ(updateEffectOf(key) == UpdateEffect::None, key.effects == KeyEffect::StoredOnly)
            << key.busName;
        if (affects(key.effects, KeyEffect::Build)) {
            EXPECT_EQ(updateEffectOf(key), UpdateEffect::Reload) << key.busName;
        }
    }
}

// The heart of issue 27's item 1: the row says where the key shows, the
// started container shows it there and nowhere else.
TEST_F(SpecKeyEffects, EveryKeyChangesWhatItsRowDeclares) {
    for (const auto& key : specKeys()) {
        const std::string name(key.busName);
        SCOPED_TRACE(name);
        auto found = samples().find(name);
        if (found == samples().end()) {
            ADD_FAILURE() << name << " has no sample";
            continue;
        }
        const auto& sample = found->second;
        auto before = baseSpec();
        sample.context(before);
        auto after = before;
        if (key.systemSource) {
            // Sources exclude each other: the sample is the only one.
            for (const auto& other : specKeys()) {
                if (other.systemSource) {
                    other.set(after, other.defaultValue());
                }
            }
        }
        key.set(after, sample.value(top_));
        if (key.get(after) == key.get(before)) {
            ADD_FAILURE() << "the sample is the value it replaces";
            continue;
        }
        const auto seenBefore = observe(before);
        const auto seenAfter = observe(after);
        if (!seenBefore || !seenAfter) {
            continue;  // the failure names the verb that refused the spec
        }
        const auto observed = differences(*seenBefore, *seenAfter);
        EXPECT_EQ(describe(observed), describe(key.effects))
            << name << "'s row declares " << describe(key.effects) << "; its sample value changed "
            << describe(observed) << " (nspawn's argv:" << argvChange(*seenBefore, *seenAfter) << ")";
    }
}

// The test sees each channel: an argv, a unit, a plan or a build that
// differs is told apart from one that does not.
TEST_F(SpecKeyEffects, EachChannelIsToldApart) {
    Observed base{{"nspawn", "init"}, "unit", "plan", "build", "conf"};
    EXPECT_EQ(differences(base, base), KeyEffect::None);
    auto other = base;
    other.nspawnArgv.push_back("--quiet");
    other.unit += "x";
    EXPECT_EQ(differences(base, other), KeyEffect::Nspawn | KeyEffect::Unit);
    other = base;
    other.network += "x";
    other.build += "x";
    other.stored += "x";
    EXPECT_EQ(differences(base, other), KeyEffect::Network | KeyEffect::Build);
    other = base;
    other.stored += "x";
    EXPECT_EQ(differences(base, other), KeyEffect::StoredOnly);
}

// The manager's SpecKeys property tells clients what an Update of each key
// does to a running container (updateEffectWord(updateEffectOf(row))); here
// each key's sample is given to a real Update of a running container over the
// fakes, and what it did is held against that word: a restart stops the unit,
// a reload runs switch-to-configuration, a live change sets the unit's
// properties, a stored one none of these.
TEST_F(SpecKeyEffects, SpecKeysTellsWhatAnUpdateDoesToARunningContainer) {
    const auto summaries = specKeySummaries();
    ASSERT_EQ(summaries.size(), specKeys().size());
    for (std::size_t index = 0; index < summaries.size(); ++index) {
        const auto& key = specKeys()[index];
        const std::string name(key.busName);
        SCOPED_TRACE(name);
        ASSERT_EQ(summaries[index].key, key.busName);
        auto found = samples().find(name);
        if (found == samples().end()) {
            ADD_FAILURE() << name << " has no sample";
            continue;
        }
        auto before = baseSpec();
        found->second.context(before);
        fs::remove_all(top_);
        fs::create_directories(top_);
        fs::permissions(top_, fs::perms::owner_all);
        World world(top_);
        if (const auto error = world.createAndStart("web", before)) {
            ADD_FAILURE() << *error;
            continue;
        }
        const auto stopped = world.unitsStopped();
        const auto propertiesSet = world.unitPropertiesSet();
        const auto processes = world.processRequests().size();
        SpecPatch patch;
        if (key.systemSource) {
            // Sources exclude each other: the sample replaces the one there.
            patch.prepare([](ContainerSpec& spec) {
                for (const auto& other : specKeys()) {
                    if (other.systemSource) {
                        other.set(spec, other.defaultValue());
                    }
                }
            });
        }
        patch.set(name,
                  [&key, value = found->second.value(top_)](ContainerSpec& spec) { key.set(spec, value); });
        if (const auto error = world.update("web", patch)) {
            ADD_FAILURE() << *error;
            continue;
        }
        bool switched = false;
        for (auto request = world.processRequests().begin() + static_cast<std::ptrdiff_t>(processes);
             request != world.processRequests().end(); ++request) {
            switched = switched ||
                       (!request->argv.empty() && request->argv[0].ends_with("/bin/switch-to-configuration"));
        }
        const std::string did = world.unitsStopped() > stopped              ? "restart"
                                : switched                                  ? "reload"
                                : world.unitPropertiesSet() > propertiesSet ? "live"
                                                                            : "stored";
        EXPECT_EQ(summaries[index].onUpdate, did)
            << "SpecKeys says an Update of " << name << " does '" << summaries[index].onUpdate
            << "' to a running container; it did '" << did << "'";
    }
}

}  // namespace
}  // namespace nixos_containers
