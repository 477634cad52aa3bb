#include "manager_object.h"

// List's reply is written by the overload below, not by sdbus-c++'s generic
// vector-of-structs code, which builds the "(ssbo)" signature as strings for
// every row (most of a List). Declared before the adaptor that returns
// the rows, so the adaptor's reply finds it.
namespace sdbus {
Message& operator<<(Message& message,
                    const std::vector<Struct<std::string, std::string, bool, ObjectPath>>& rows);
}  // namespace sdbus

#include "bus_service.h"
#include "manager_adaptor.h"

#include <systemd/sd-bus.h>

#include <cstring>

namespace {
using ListRow = sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>;

// Element by element: sd_bus_message_append would parse "(ssbo)" again for
// every row, a fifth of the cost.
int appendListRow(sd_bus_message* message, const ListRow& row) {
    const int declarative = std::get<2>(row) ? 1 : 0;
    int result = sd_bus_message_open_container(message, SD_BUS_TYPE_STRUCT, "ssbo");
    if (result >= 0) {
        result = sd_bus_message_append_basic(message, SD_BUS_TYPE_STRING, std::get<0>(row).c_str());
    }
    if (result >= 0) {
        result = sd_bus_message_append_basic(message, SD_BUS_TYPE_STRING, std::get<1>(row).c_str());
    }
    if (result >= 0) {
        result = sd_bus_message_append_basic(message, SD_BUS_TYPE_BOOLEAN, &declarative);
    }
    if (result >= 0) {
        result = sd_bus_message_append_basic(message, SD_BUS_TYPE_OBJECT_PATH, std::get<3>(row).c_str());
    }
    if (result >= 0) {
        result = sd_bus_message_close_container(message);
    }
    return result;
}
}  // namespace

sdbus::Message& sdbus::operator<<(Message& message, const std::vector<ListRow>& rows) {
    auto* raw = nixos_containers::rawMessage(message);
    int result = sd_bus_message_open_container(raw, SD_BUS_TYPE_ARRAY, "(ssbo)");
    for (auto row = rows.begin(); result >= 0 && row != rows.end(); ++row) {
        result = appendListRow(raw, *row);
    }
    if (result >= 0) {
        result = sd_bus_message_close_container(raw);
    }
    if (result < 0) {
        throw sdbus::Error("org.freedesktop.DBus.Error.Failed",
                           std::string("cannot write the list of containers: ") + std::strerror(-result));
    }
    return message;
}

namespace nixos_containers {

class ManagerObject::Adaptor final
    : public sdbus::AdaptorInterfaces<org::nixos::Containers_adaptor, sdbus::ObjectManager_adaptor> {
public:
    Adaptor(sdbus::IConnection& connection, BusService& service)
        : AdaptorInterfaces(connection, BusService::kManagerPath), service_(service) {
        registerAdaptor();
    }
    ~Adaptor() { unregisterAdaptor(); }
    Adaptor(const Adaptor&) = delete;
    Adaptor& operator=(const Adaptor&) = delete;

    // BuildOutput as a unicast signal: to the caller whose build it is, not
    // to every client on the bus.
    void sendBuildOutput(const std::string& recipient, const std::string& name, const std::string& line) {
        auto signal = getObject().createSignal(org::nixos::Containers_adaptor::INTERFACE_NAME, "BuildOutput");
        signal.setDestination(recipient);
        signal << name << line;
        getObject().emitSignal(signal);
    }

private:
    const sdbus::Message& message() { return *getObject().getCurrentlyProcessedMessage(); }

    void Create(sdbus::Result<sdbus::ObjectPath>&& result, std::string name,
                std::map<std::string, sdbus::Variant> spec) override {
        service_.create(message(), std::move(result), name, spec);
    }
    void Start(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Start, name);
    }
    void Stop(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Stop, name);
    }
    void Restart(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Restart, name);
    }
    void Terminate(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Terminate, name);
    }
    void Reload(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Reload, name);
    }
    void Rollback(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Rollback, name);
    }
    void SwitchGeneration(sdbus::Result<>&& result, std::string name, uint32_t generation) override {
        service_.switchGeneration(message(), std::move(result), name, generation);
    }
    void GetPermissions(sdbus::Result<std::map<std::string, std::string>>&& result,
                        std::string name) override {
        service_.permissions(message(), std::move(result), name);
    }
    void Run(sdbus::Result<int32_t, int32_t>&& result, std::string name, std::vector<std::string> command,
             std::map<std::string, sdbus::Variant> options, sdbus::UnixFd in, sdbus::UnixFd out,
             sdbus::UnixFd err) override {
        service_.run(message(), std::move(result), name, command, options, std::move(in), std::move(out),
                     std::move(err));
    }
    void Update(sdbus::Result<>&& result, std::string name,
                std::map<std::string, sdbus::Variant> changes) override {
        service_.update(message(), std::move(result), name, changes);
    }
    void Destroy(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Destroy, name);
    }
    void ApplyDeclarative(sdbus::Result<std::vector<BusService::DeclarativeOutcomeRow>>&& result,
                          std::string set) override {
        service_.applyDeclarative(message(), std::move(result), set);
    }
    void OpenShell(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string name, std::string user,
                   std::string path, std::vector<std::string> args,
                   std::vector<std::string> environment) override {
        service_.openShell(
            message(), std::move(result), name,
            ShellRequest{std::move(user), std::move(path), std::move(args), std::move(environment)});
    }
    void OpenLogin(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string name) override {
        service_.openLogin(message(), std::move(result), name);
    }
    void OpenLogs(sdbus::Result<sdbus::UnixFd>&& result, std::string name, uint32_t lines,
                  bool follow) override {
        service_.openLogs(message(), std::move(result), name, lines, follow);
    }
    void GetHostKey(sdbus::Result<std::string>&& result, std::string name) override {
        service_.hostKey(std::move(result), name);
    }
    std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> List() override {
        return service_.list();
    }
    sdbus::ObjectPath GetContainer(const std::string& name) override { return service_.getContainer(name); }
    void Inspect(sdbus::Result<std::string>&& result, std::string name) override {
        service_.inspect(message(), std::move(result), name);
    }

    std::vector<sdbus::Struct<std::string, std::string, std::string, bool>> SpecKeys() override {
        std::vector<sdbus::Struct<std::string, std::string, std::string, bool>> keys;
        for (const auto& key : specKeySummaries()) {
            keys.emplace_back(std::string(key.key), std::string(key.signature), std::string(key.onUpdate),
                              key.needsHostAccess);
        }
        return keys;
    }

    BusService& service_;
};

ManagerObject::ManagerObject(sdbus::IConnection& connection, BusService& service)
    : adaptor_(std::make_unique<Adaptor>(connection, service)) {}

ManagerObject::~ManagerObject() = default;

void ManagerObject::emitContainerNew(const std::string& name, const sdbus::ObjectPath& path) {
    adaptor_->emitContainerNew(name, path);
}

void ManagerObject::emitContainerRemoved(const std::string& name, const sdbus::ObjectPath& path) {
    adaptor_->emitContainerRemoved(name, path);
}

void ManagerObject::sendBuildOutput(const std::string& recipient, const std::string& name,
                                    const std::string& line) {
    adaptor_->sendBuildOutput(recipient, name, line);
}

}  // namespace nixos_containers
