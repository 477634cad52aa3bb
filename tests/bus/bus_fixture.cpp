#include "bus_fixture.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace bus_tests {

namespace {

std::atomic<int> systemCounter{0};

// A fake nix-env that builds like the real one as far as the service can
// tell: it prints progress, puts a system with an init in the store and
// points the profile (-p) at it. Module text containing BUILD_FAILS makes
// it fail like an evaluation error.
std::string fakeNixEnv(const fs::path& store) {
    return R"(#!/bin/sh
profile=""
config=""
while [ $# -gt 0 ]; do
  case "$1" in
    -p|--profile) profile="$2"; shift ;;
    -I) config="${2#nixos-config=}"; shift ;;
  esac
  shift
done
echo "building the system configuration..."
echo "evaluating $config"
if grep -q BUILD_FAILS "$config" 2>/dev/null; then
  echo "error: undefined variable 'BUILD_FAILS' at $config:6:3" >&2
  exit 1
fi
out=")" + store.string() +
           R"(/$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')-nixos-system-built"
mkdir -p "$out"
printf '#!/bin/sh\n' > "$out/init"
chmod 755 "$out/init"
ln -sfn "$out" "$profile"
echo "built $out"
)";
}

// The flake path goes through `nix build --profile P -- REF`.
std::string fakeNix(const fs::path& store) {
    return R"(#!/bin/sh
profile=""
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift ;;
    --) shift; ref="$1" ;;
  esac
  shift
done
echo "building $ref"
case "$ref" in *BUILD_FAILS*) echo "error: flake has no such output" >&2; exit 1 ;; esac
out=")" + store.string() +
           R"(/$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')-nixos-system-flake"
mkdir -p "$out"
printf '#!/bin/sh\n' > "$out/init"
chmod 755 "$out/init"
ln -sfn "$out" "$profile"
)";
}

constexpr fs::perms kExecutable = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec;

std::string unquote(std::string value) {
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
        return value.substr(1, value.size() - 2);
    }
    return value;
}

}  // namespace

void BusTest::SetUp() {
    if (::geteuid() != 0) {
        // scripts/test.sh counts a skip as a failure; with CI set, so does the test.
        if (std::getenv("CI") != nullptr) {
            GTEST_FAIL() << "bus tests need root (they make network and mount namespaces); CI is set, so "
                            "this is a failure, not a skip";
        }
        GTEST_SKIP() << "bus tests need root: they make network and mount namespaces";
    }
    root_ = std::make_unique<TempDir>();
    for (const auto& directory :
         {configDir(), stateDir(), runtimeDir(), profilesDir(), gcrootsDir(), storeDir(), nixBinDir(),
          declarativeUnitDir(), root_->path() / "nix-state"}) {
        fs::create_directories(directory);
    }
    writeFakeNix();
    writeText(root_->path() / "resolv.conf", "nameserver 192.0.2.53\n");
    system_ = makeSystem("nixos-system-web");

    bus_ = std::make_unique<PrivateBus>(root_->path());
    peers_ = std::make_unique<FakePeers>(bus_->address(), peerOptions());

    client_ = sdbus::createSessionBusConnectionWithAddress(bus_->address());
    // Matched on interface and path, not sender: the name has no owner yet.
    auto record = [this](sdbus::Message& message) { onSignal(message); };
    matches_.push_back(client_->addMatch("type='signal',interface='org.nixos.Containers'", record));
    matches_.push_back(client_->addMatch(
        "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
        "path_namespace='/org/nixos/Containers'",
        record));
    client_->enterEventLoopAsync();
    manager_ = sdbus::createProxy(*client_, kService, kManagerPath);
    manager_->finishRegistration();

    beforeServiceStart();
    startService();
}

void BusTest::TearDown() {
    if (HasFailure() && service_) {
        std::cerr << "---- nixos-containersd log ----\n" << service_->log() << "---- end of log ----\n";
    }
    service_.reset();
    manager_.reset();
    matches_.clear();
    if (client_) {
        client_->leaveEventLoop();
    }
    client_.reset();
    peers_.reset();
    bus_.reset();
    root_.reset();
}

void BusTest::writeFakeNix() {
    writeText(nixBinDir() / "nix-env", fakeNixEnv(storeDir()), kExecutable);
    writeText(nixBinDir() / "nix", fakeNix(storeDir()), kExecutable);
}

fs::path BusTest::makeSystem(const std::string& name) {
    auto hash = std::to_string(100000 + systemCounter++) + "abcdefghijklmnopqrstuvwxyz0";
    auto path = storeDir() / (hash.substr(0, 32) + "-" + name);
    writeText(path / "init", "#!/bin/sh\n", kExecutable);
    return path;
}

void BusTest::startService() {
    std::map<std::string, std::string> environment = {
        {"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"},
        {"DBUS_SYSTEM_BUS_ADDRESS", bus_->address()},
        {"NIXOS_CONTAINERS_CONFIG_DIR", configDir().string()},
        {"NIXOS_CONTAINERS_STATE_DIR", stateDir().string()},
        {"NIXOS_CONTAINERS_RUNTIME_DIR", runtimeDir().string()},
        {"NIXOS_CONTAINERS_PROFILES_DIR", profilesDir().string()},
        {"NIXOS_CONTAINERS_GCROOTS_DIR", gcrootsDir().string()},
        {"NIXOS_CONTAINERS_STORE_DIR", storeDir().string()},
        {"NIXOS_CONTAINERS_NIX_STATE_DIR", (root_->path() / "nix-state").string()},
        {"NIXOS_CONTAINERS_NSPAWN", "/usr/bin/systemd-nspawn"},
        {"NIXOS_CONTAINERS_NIX_BIN_DIR", nixBinDir().string()},
        {"NIXOS_CONTAINERS_RESOLV_CONF", (root_->path() / "resolv.conf").string()},
        {"NIXOS_CONTAINERS_DECLARATIVE_UNIT_DIRS", declarativeUnitDir().string()},
    };
    for (const auto& [key, value] : extraEnvironment()) {
        environment[key] = value;
    }
    service_ =
        std::make_unique<ServiceProcess>(NIXOS_CONTAINERSD, environment, root_->path() / "service.log");
    auto bus = sdbus::createProxy(*client_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    bus->finishRegistration();
    bool owned = waitUntil(
        [&] {
            if (!service_->running()) {
                return true;  // reported below, without waiting out the timeout
            }
            bool hasOwner = false;
            bus->callMethod("NameHasOwner")
                .onInterface("org.freedesktop.DBus")
                .withArguments(std::string(kService))
                .storeResultsTo(hasOwner);
            return hasOwner;
        },
        10s);
    ASSERT_TRUE(owned && service_->running()) << "nixos-containersd did not come up:\n" << service_->log();
}

void BusTest::stopService() {
    service_->stop();
    auto bus = sdbus::createProxy(*client_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    bus->finishRegistration();
    ASSERT_TRUE(waitUntil([&] {
        bool hasOwner = true;
        bus->callMethod("NameHasOwner")
            .onInterface("org.freedesktop.DBus")
            .withArguments(std::string(kService))
            .storeResultsTo(hasOwner);
        return !hasOwner;
    }));
}

std::map<std::string, std::string> BusTest::readConf(const std::string& name) const {
    std::map<std::string, std::string> values;
    std::istringstream in(readText(confFile(name)));
    std::string line;
    while (std::getline(in, line)) {
        auto equals = line.find('=');
        if (equals != std::string::npos && !line.starts_with("#")) {
            values[line.substr(0, equals)] = unquote(line.substr(equals + 1));
        }
    }
    return values;
}

// ------------------------------------------------------------ calls

sdbus::ObjectPath BusTest::create(const std::string& name, const Spec& spec) {
    sdbus::ObjectPath path;
    manager_->callMethod("Create")
        .onInterface(kManagerInterface)
        .withTimeout(20s)
        .withArguments(name, spec)
        .storeResultsTo(path);
    return path;
}

sdbus::ObjectPath BusTest::createSimple(const std::string& name) {
    return create(name, {{"SystemPath", sdbus::Variant(system_.string())}});
}

void BusTest::verb(const std::string& method, const std::string& name) {
    manager_->callMethod(method).onInterface(kManagerInterface).withTimeout(20s).withArguments(name);
}

std::future<std::optional<BusError>> BusTest::verbAsync(const std::string& method, const std::string& name) {
    auto promise = std::make_shared<std::promise<std::optional<BusError>>>();
    auto future = promise->get_future();
    manager_->callMethodAsync(method)
        .onInterface(kManagerInterface)
        .withTimeout(20s)
        .withArguments(name)
        .uponReplyInvoke([promise](const sdbus::Error* error) {
            promise->set_value(
                error == nullptr ? std::nullopt
                                 : std::optional<BusError>(BusError{error->getName(), error->getMessage()}));
        });
    return future;
}

std::string BusTest::serviceLinks() {
    auto result = runCommand(
        {"nsenter", "--net=/proc/" + std::to_string(service_->pid()) + "/ns/net", "ip", "-o", "link"});
    // A listing that failed, or that lacks the loopback every namespace has,
    // would make "this link is absent" pass for nothing.
    if (result.exitStatus != 0 || result.output.find(": lo: ") == std::string::npos) {
        ADD_FAILURE() << "cannot list the links in the service's namespace (exit " << result.exitStatus
                      << "):\n"
                      << result.output;
    }
    return result.output;
}

void BusTest::update(const std::string& name, const Spec& changes) {
    manager_->callMethod("Update")
        .onInterface(kManagerInterface)
        .withTimeout(20s)
        .withArguments(name, changes);
}

std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> BusTest::list() {
    std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> rows;
    manager_->callMethod("List").onInterface(kManagerInterface).storeResultsTo(rows);
    return rows;
}

nlohmann::json BusTest::inspect(const std::string& name) {
    std::string json;
    manager_->callMethod("Inspect").onInterface(kManagerInterface).withArguments(name).storeResultsTo(json);
    return nlohmann::json::parse(json);
}

std::string BusTest::state(const std::string& name) {
    return property<std::string>(name, "State");
}

std::optional<BusError> BusTest::errorOf(const std::function<void()>& call) {
    try {
        call();
    } catch (const sdbus::Error& error) {
        return BusError{error.getName(), error.getMessage()};
    }
    return std::nullopt;
}

::testing::AssertionResult BusTest::failsWith(const std::function<void()>& call, const std::string& errorName,
                                              const std::string& substring) {
    auto error = errorOf(call);
    if (!error) {
        return ::testing::AssertionFailure() << "the call succeeded; expected " << errorName;
    }
    if (error->name != errorName || error->message.find(substring) == std::string::npos) {
        return ::testing::AssertionFailure()
               << "failed with " << error->name << ": \"" << error->message << "\"; expected " << errorName
               << " mentioning \"" << substring << "\"";
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult BusTest::leftNothingOf(const std::string& name) {
    std::vector<std::string> traces;
    std::error_code error;
    std::vector<fs::path> paths = {confFile(name)};
    // For an empty name these would be the directories themselves; callers
    // check those are empty instead.
    if (!name.empty()) {
        paths.insert(paths.end(), {configDir() / (name + ".nix"), stateDir() / name,
                                   runtimeDir() / "roots" / name, profilesDir() / name, gcrootsDir() / name});
    }
    for (const auto& path : paths) {
        if (fs::exists(fs::symlink_status(path, error))) {
            traces.push_back(path.string());
        }
    }
    for (const auto& request : peers_->transientUnits()) {
        if (request.unit == "nixos-container@" + name + ".service") {
            traces.push_back("a started unit " + request.unit);
        }
    }
    for (const auto& row : list()) {
        if (row.get<0>() == name) {
            traces.push_back("a List row");
        }
    }
    if (traces.empty()) {
        return ::testing::AssertionSuccess();
    }
    auto failure = ::testing::AssertionFailure() << "left behind for '" << name << "':";
    for (const auto& trace : traces) {
        failure << " " << trace;
    }
    return failure;
}

CommandResult BusTest::callAs(unsigned uid, const std::vector<std::string>& arguments, bool interactive) {
    std::vector<std::string> argv = {"setpriv",
                                     "--reuid=" + std::to_string(uid),
                                     "--regid=" + std::to_string(uid),
                                     "--clear-groups",
                                     BUS_CALLER,
                                     bus_->address()};
    if (interactive) {
        argv.emplace_back("--interactive");
    }
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return runCommand(argv);
}

CommandResult BusTest::busctl(const std::vector<std::string>& arguments, unsigned uid) {
    std::vector<std::string> argv;
    if (uid != 0) {
        argv = {"setpriv", "--reuid=" + std::to_string(uid), "--regid=" + std::to_string(uid),
                "--clear-groups"};
    }
    argv.emplace_back("busctl");
    argv.push_back("--address=" + bus_->address());
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return runCommand(argv);
}

// ------------------------------------------------------------ signals

void BusTest::onSignal(sdbus::Message& message) {
    RecordedSignal signal;
    signal.path = message.getPath();
    signal.member = message.getMemberName();
    try {
        if (signal.member == "PropertiesChanged") {
            std::string interface;
            std::map<std::string, sdbus::Variant> changed;
            std::vector<std::string> invalidated;
            message >> interface >> changed >> invalidated;
            for (const auto& [name, value] : changed) {
                signal.changedNames.push_back(name);
                if (value.containsValueOfType<std::string>()) {
                    signal.changedText[name] = value.get<std::string>();
                }
            }
            signal.changedNames.insert(signal.changedNames.end(), invalidated.begin(), invalidated.end());
        } else {
            std::string first;
            std::string second;
            message >> first;
            signal.args.push_back(first);
            if (signal.member == "ContainerNew" || signal.member == "ContainerRemoved") {
                sdbus::ObjectPath path;
                message >> path;
                signal.args.push_back(path);
            } else {
                message >> second;
                signal.args.push_back(second);
            }
        }
    } catch (const sdbus::Error& error) {
        signal.args.push_back("undecodable: " + error.getMessage());
    }
    std::lock_guard lock(signalsMutex_);
    signals_.push_back(std::move(signal));
}

std::vector<RecordedSignal> BusTest::signals() const {
    std::lock_guard lock(signalsMutex_);
    return signals_;
}

std::vector<std::string> BusTest::stateChanges(const std::string& name) const {
    std::vector<std::string> states;
    for (const auto& signal : signals()) {
        if (signal.path != containerPath(name) || signal.member != "PropertiesChanged") {
            continue;
        }
        if (auto found = signal.changedText.find("State"); found != signal.changedText.end()) {
            if (states.empty() || states.back() != found->second) {
                states.push_back(found->second);
            }
        }
    }
    return states;
}

bool BusTest::sawSignal(const std::string& member, const std::string& firstArg) const {
    auto all = signals();
    return std::any_of(all.begin(), all.end(), [&](const RecordedSignal& signal) {
        return signal.member == member && !signal.args.empty() && signal.args.front() == firstArg;
    });
}

}  // namespace bus_tests
