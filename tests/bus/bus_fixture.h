// The fixture every bus test uses: a private dbus-daemon, the fake peers,
// the real nixos-containersd with all of its paths in a per-test directory,
// and a root client connection that records the service's signals.
#pragma once

#include "fake_peers.h"
#include "harness.h"

#include <gtest/gtest.h>
#include <sdbus-c++/sdbus-c++.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bus_tests {

namespace fs = std::filesystem;

using Spec = std::map<std::string, sdbus::Variant>;

inline constexpr const char* kService = "org.nixos.Containers";
inline constexpr const char* kManagerPath = "/org/nixos/Containers";
inline constexpr const char* kManagerInterface = "org.nixos.Containers";
inline constexpr const char* kContainerInterface = "org.nixos.Containers.Container";

inline constexpr const char* kInvalidArgument = "org.nixos.Containers.Error.InvalidArgument";
inline constexpr const char* kNoSuchContainer = "org.nixos.Containers.Error.NoSuchContainer";
inline constexpr const char* kAlreadyExists = "org.nixos.Containers.Error.AlreadyExists";
inline constexpr const char* kBusy = "org.nixos.Containers.Error.Busy";
inline constexpr const char* kDeclarative = "org.nixos.Containers.Error.Declarative";
inline constexpr const char* kBuildFailed = "org.nixos.Containers.Error.BuildFailed";
inline constexpr const char* kStartFailed = "org.nixos.Containers.Error.StartFailed";
inline constexpr const char* kNotRunning = "org.nixos.Containers.Error.NotRunning";
inline constexpr const char* kLimitsExceeded = "org.nixos.Containers.Error.LimitsExceeded";
inline constexpr const char* kAccessDenied = "org.freedesktop.DBus.Error.AccessDenied";
inline constexpr const char* kInteractiveRequired =
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";

// One signal the service emitted, decoded on the client's loop thread.
struct RecordedSignal {
    std::string path;
    std::string member;
    std::vector<std::string> args;                   // ContainerNew/Removed, BuildOutput
    std::map<std::string, std::string> changedText;  // PropertiesChanged: string values
    std::vector<std::string> changedNames;           // PropertiesChanged: every name
};

struct BusError {
    std::string name;
    std::string message;
};

class BusTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    // ---- hooks for fixtures that need a different world
    virtual PeerOptions peerOptions() const { return {}; }
    // Runs after the bus and peers exist, before the service starts.
    virtual void beforeServiceStart() {}
    virtual std::map<std::string, std::string> extraEnvironment() const { return {}; }

    // Starts (or restarts) the service and waits until it owns its name.
    void startService();
    void stopService();

    // ---- the world on disk
    fs::path configDir() const { return root_->path() / "etc"; }
    fs::path stateDir() const { return root_->path() / "state"; }
    fs::path runtimeDir() const { return root_->path() / "run"; }
    fs::path profilesDir() const { return root_->path() / "profiles"; }
    fs::path gcrootsDir() const { return root_->path() / "gcroots"; }
    fs::path storeDir() const { return root_->path() / "store"; }
    fs::path nixBinDir() const { return root_->path() / "nix-bin"; }
    fs::path declarativeUnitDir() const { return root_->path() / "units"; }
    fs::path confFile(const std::string& name) const { return configDir() / (name + ".conf"); }
    // A fake NixOS system in the store: STORE/HASH-NAME with an executable init.
    fs::path makeSystem(const std::string& name);
    // The same system as the service sees it inside containers.
    static std::string inStore(const fs::path& system) { return "/nix/store/" + system.filename().string(); }
    const fs::path& system() const { return system_; }
    std::map<std::string, std::string> readConf(const std::string& name) const;

    // ---- calls as root through the test's own connection
    sdbus::IProxy& manager() { return *manager_; }
    sdbus::IConnection& client() { return *client_; }
    sdbus::ObjectPath create(const std::string& name, const Spec& spec);
    sdbus::ObjectPath createSimple(const std::string& name);  // SystemPath only
    void verb(const std::string& method, const std::string& name);
    // Sends the call and returns at once; the future holds its error, if any.
    std::future<std::optional<BusError>> verbAsync(const std::string& method, const std::string& name);
    void update(const std::string& name, const Spec& changes);
    std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> list();
    nlohmann::json inspect(const std::string& name);
    std::string state(const std::string& name);
    template <typename T>
    T property(const std::string& name, const std::string& property) {
        auto proxy = sdbus::createProxy(*client_, kService, containerPath(name));
        proxy->finishRegistration();
        sdbus::Variant value = proxy->getProperty(property).onInterface(kContainerInterface);
        return value.get<T>();
    }
    static std::string containerPath(const std::string& name) {
        return pathEncode(std::string(kManagerPath) + "/container", name);
    }

    // The error a call fails with, or nothing when it succeeds.
    static std::optional<BusError> errorOf(const std::function<void()>& call);
    // Asserts the call fails with exactly `errorName` and a message containing `substring`.
    static ::testing::AssertionResult failsWith(const std::function<void()>& call,
                                                const std::string& errorName, const std::string& substring);
    // No trace of NAME: no conf, .nix, root, profile, gcroots, unit or object.
    ::testing::AssertionResult leftNothingOf(const std::string& name);

    // ---- unprivileged callers
    // bus_caller (prints error names) as `uid`.
    CommandResult callAs(unsigned uid, const std::vector<std::string>& arguments, bool interactive = false);
    // busctl --address=... ARGS as `uid` (0: as root).
    CommandResult busctl(const std::vector<std::string>& arguments, unsigned uid = 0);

    // ---- signals
    std::vector<RecordedSignal> signals() const;
    std::vector<std::string> stateChanges(const std::string& name) const;
    bool sawSignal(const std::string& member, const std::string& firstArg) const;

    FakePeers& peers() { return *peers_; }
    const std::string& address() const { return bus_->address(); }
    std::string serviceLog() const { return service_ ? service_->log() : std::string(); }
    // `ip -o link` inside the service's network namespace.
    std::string serviceLinks();

private:
    void writeFakeNix();
    void onSignal(sdbus::Message& message);

    // Declared in the order of construction; destroyed in reverse, so the
    // service dies before its peers and the bus, and the directory goes last.
    std::unique_ptr<TempDir> root_;
    fs::path system_;
    std::unique_ptr<PrivateBus> bus_;
    std::unique_ptr<FakePeers> peers_;
    std::unique_ptr<sdbus::IConnection> client_;
    std::vector<sdbus::Slot> matches_;
    std::unique_ptr<sdbus::IProxy> manager_;
    std::unique_ptr<ServiceProcess> service_;

    mutable std::mutex signalsMutex_;
    std::vector<RecordedSignal> signals_;
};

}  // namespace bus_tests
