#include "container_object.h"

#include "bus_service.h"
#include "container_adaptor.h"
#include "object_subtree.h"
#include "spec_keys.h"
#include "spec_value_bus.h"

namespace nixos_containers {

class ContainerInterface::Adaptor final : public org::nixos::Containers::Container_adaptor {
public:
    Adaptor(ObjectSubtree& subtree, BusService& service)
        : Container_adaptor(subtree.recorder()), subtree_(subtree), service_(service) {}
    Adaptor(const Adaptor&) = delete;
    Adaptor& operator=(const Adaptor&) = delete;

private:
    const sdbus::Message& message() const { return *subtree_.currentMessage(); }
    const std::string& name() const { return subtree_.currentKey(); }
    const Container& self() const { return service_.view(name()); }

    void Start(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Start, name());
    }
    void Stop(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Stop, name());
    }
    void Restart(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Restart, name());
    }
    void Terminate(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Terminate, name());
    }
    void Reload(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Reload, name());
    }
    void Rollback(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Rollback, name());
    }
    void SwitchGeneration(sdbus::Result<>&& result, uint32_t generation) override {
        service_.switchGeneration(message(), std::move(result), name(), generation);
    }
    void GetPermissions(sdbus::Result<std::map<std::string, std::string>>&& result) override {
        service_.permissions(message(), std::move(result), name());
    }
    void Run(sdbus::Result<int32_t, int32_t>&& result, std::vector<std::string> command,
             std::map<std::string, sdbus::Variant> options, sdbus::UnixFd in, sdbus::UnixFd out,
             sdbus::UnixFd err) override {
        service_.run(message(), std::move(result), name(), command, options, std::move(in), std::move(out),
                     std::move(err));
    }
    void Update(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> changes) override {
        service_.update(message(), std::move(result), name(), changes);
    }
    void Destroy(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Destroy, name());
    }

    void OpenShell(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string user, std::string path,
                   std::vector<std::string> args, std::vector<std::string> environment) override {
        service_.openShell(
            message(), std::move(result), name(),
            ShellRequest{std::move(user), std::move(path), std::move(args), std::move(environment)});
    }
    void OpenLogin(sdbus::Result<sdbus::UnixFd, std::string>&& result) override {
        service_.openLogin(message(), std::move(result), name());
    }
    void OpenLogs(sdbus::Result<sdbus::UnixFd>&& result, uint32_t lines, bool follow) override {
        service_.openLogs(message(), std::move(result), name(), lines, follow);
    }
    void GetHostKey(sdbus::Result<std::string>&& result) override {
        service_.hostKey(std::move(result), name());
    }

    std::string Name() override { return name(); }
    sdbus::ObjectPath MachinePath() override {
        const auto& path = self().machinePath;
        return sdbus::ObjectPath(path.empty() ? "/" : path);
    }
    uint64_t Timestamp() override { return self().timestamp; }
    std::map<std::string, std::string> OSRelease() override { return self().osRelease; }
    std::string State() override { return std::string(toString(self().state)); }
    std::string UnitResult() override { return self().unitResult; }
    std::string Broken() override { return self().broken; }
    std::vector<sdbus::Struct<uint32_t, std::string, uint64_t, bool>> Generations() override {
        std::vector<sdbus::Struct<uint32_t, std::string, uint64_t, bool>> generations;
        for (const auto& generation : self().generations) {
            generations.emplace_back(generation.number, generation.system, generation.createdUsec,
                                     generation.current);
        }
        return generations;
    }
    bool Declarative() override { return self().declarative; }
    std::string Unit() override { return self().unit; }
    uint32_t Owner() override { return self().owner; }
    uint32_t Leader() override { return self().leader; }
    std::string HostInterface() override { return self().hostInterface; }
    std::string RootDirectory() override { return self().root.string(); }
    std::vector<std::string> Addresses() override { return self().addresses; }
    // The spec keys' properties: each reads its row's shown value, so the
    // defaults a stored value leaves implicit are made explicit in one place.
    template <typename BusType>
    BusType specProperty(std::string_view key) const {
        return bus_values::toBusAs<BusType>(shownValue(specKey(key), self()));
    }
    using Words = std::vector<std::string>;
    std::string SystemPath() override { return specProperty<std::string>("SystemPath"); }
    std::string Config() override { return specProperty<std::string>("Config"); }
    std::string ConfigFile() override { return specProperty<std::string>("ConfigFile"); }
    std::string Flake() override { return specProperty<std::string>("Flake"); }
    bool PrivateNetwork() override { return specProperty<bool>("PrivateNetwork"); }
    std::string HostAddress() override { return specProperty<std::string>("HostAddress"); }
    std::string LocalAddress() override { return specProperty<std::string>("LocalAddress"); }
    std::string HostAddress6() override { return specProperty<std::string>("HostAddress6"); }
    std::string LocalAddress6() override { return specProperty<std::string>("LocalAddress6"); }
    std::string HostBridge() override { return specProperty<std::string>("HostBridge"); }
    bus_values::Ports ForwardPorts() override { return specProperty<bus_values::Ports>("ForwardPorts"); }
    bus_values::BindMounts BindMounts() override {
        return specProperty<bus_values::BindMounts>("BindMounts");
    }
    Words Tmpfs() override { return specProperty<Words>("Tmpfs"); }
    Words AdditionalCapabilities() override { return specProperty<Words>("AdditionalCapabilities"); }
    bus_values::Devices AllowedDevices() override {
        return specProperty<bus_values::Devices>("AllowedDevices");
    }
    bool EnableTun() override { return specProperty<bool>("EnableTun"); }
    bool Ephemeral() override { return specProperty<bool>("Ephemeral"); }
    bool AutoStart() override { return specProperty<bool>("AutoStart"); }
    std::string TimeoutStartSec() override { return specProperty<std::string>("TimeoutStartSec"); }
    std::string MemoryMax() override { return specProperty<std::string>("MemoryMax"); }
    std::string LocalMacAddress() override { return specProperty<std::string>("LocalMacAddress"); }
    std::string NetworkNamespace() override { return specProperty<std::string>("NetworkNamespace"); }
    bool CopyResolvConf() override { return specProperty<bool>("CopyResolvConf"); }
    std::vector<std::string> NixFlags() override {
        return specProperty<std::vector<std::string>>("NixFlags");
    }
    std::string NixosPath() override { return specProperty<std::string>("NixosPath"); }
    std::string MemoryHigh() override { return specProperty<std::string>("MemoryHigh"); }
    std::string CPUWeight() override { return specProperty<std::string>("CPUWeight"); }
    std::string CPUQuota() override { return specProperty<std::string>("CPUQuota"); }
    std::string TasksMax() override { return specProperty<std::string>("TasksMax"); }
    std::string IOWeight() override { return specProperty<std::string>("IOWeight"); }
    std::string PrivateUsers() override { return specProperty<std::string>("PrivateUsers"); }
    bus_values::Veths ExtraVeths() override { return specProperty<bus_values::Veths>("ExtraVeths"); }
    Words Interfaces() override { return specProperty<Words>("Interfaces"); }
    Words Macvlans() override { return specProperty<Words>("Macvlans"); }
    Words ExtraFlags() override { return specProperty<Words>("ExtraFlags"); }

    ObjectSubtree& subtree_;
    BusService& service_;
};

ContainerInterface::ContainerInterface(ObjectSubtree& subtree, BusService& service)
    : adaptor_(std::make_unique<Adaptor>(subtree, service)) {}

ContainerInterface::~ContainerInterface() = default;

}  // namespace nixos_containers
