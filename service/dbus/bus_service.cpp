#include "bus_service.h"

// List's reply is written by the overload below, not by sdbus-c++'s generic
// vector-of-structs code, which builds the "(ssbo)" signature as strings for
// every row (most of a List). Declared before the adaptor that returns
// the rows, so the adaptor's reply finds it.
namespace sdbus {
Message& operator<<(Message& message,
                    const std::vector<Struct<std::string, std::string, bool, ObjectPath>>& rows);
}  // namespace sdbus

#include "bus_names.h"
#include "container_adaptor.h"
#include "container_json.h"
#include "log.h"
#include "manager_adaptor.h"
#include "object_subtree.h"
#include "spec_decoder.h"
#include "utf8.h"

#include <systemd/sd-bus.h>

#include <cstring>

namespace nixos_containers {

namespace {

constexpr const char* kContainerInterface = "org.nixos.Containers.Container";

// sdbus-c++ 1.2 has no getter for ALLOW_INTERACTIVE_AUTHORIZATION; the
// sd_bus_message is a protected member, reachable through a member pointer.
struct MessageAccess : sdbus::Message {
    static sd_bus_message* raw(const sdbus::Message& message) {
        return static_cast<sd_bus_message*>(message.*(&MessageAccess::msg_));
    }
};

}  // namespace
}  // namespace nixos_containers

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
    auto* raw = nixos_containers::MessageAccess::raw(message);
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
namespace {

bool allowsInteraction(const sdbus::Message& message) {
    return sd_bus_message_get_allow_interactive_authorization(MessageAccess::raw(message)) > 0;
}

template <typename... Results>
auto shared(sdbus::Result<Results...>&& result) {
    return std::make_shared<sdbus::Result<Results...>>(std::move(result));
}

using PortRows = std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>>;
using BindRows = std::vector<sdbus::Struct<std::string, std::string, bool>>;
using DeviceRows = std::vector<sdbus::Struct<std::string, std::string>>;
using VethMap = std::map<std::string, std::map<std::string, std::string>>;

}  // namespace

sdbus::Error toBusError(const ContainerError& error) {
    return sdbus::Error(std::string(errorName(error.code())), sanitizeUtf8(error.what()));
}

namespace {
// Whatever escapes the core becomes an error reply, never an exception
// unwinding through sd-bus into the loop.
// The completion of a verb without results: an empty reply or the named error.
StatusCallback replyWith(const std::shared_ptr<sdbus::Result<>>& reply) {
    return [reply](const Status& status) {
        if (status.ok()) {
            reply->returnResults();
        } else {
            reply->returnError(toBusError(status.error()));
        }
    };
}

template <typename Reply>
void replyFailure(const Reply& reply, const std::exception& error) {
    logError(std::string("unexpected failure: ") + error.what());
    reply->returnError(sdbus::Error("org.freedesktop.DBus.Error.Failed", sanitizeUtf8(error.what())));
}
}  // namespace

// ------------------------------------------------------------ the objects

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::nixos::Containers_adaptor, sdbus::ObjectManager_adaptor> {
public:
    ManagerObject(sdbus::IConnection& connection, BusService& service)
        : AdaptorInterfaces(connection, BusService::kManagerPath), service_(service) {
        registerAdaptor();
    }
    ~ManagerObject() { unregisterAdaptor(); }
    ManagerObject(const ManagerObject&) = delete;
    ManagerObject& operator=(const ManagerObject&) = delete;

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
    void Update(sdbus::Result<>&& result, std::string name,
                std::map<std::string, sdbus::Variant> changes) override {
        service_.update(message(), std::move(result), name, changes);
    }
    void Destroy(sdbus::Result<>&& result, std::string name) override {
        service_.perform(message(), std::move(result), Verb::Destroy, name);
    }
    std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> List() override {
        return service_.list();
    }
    sdbus::ObjectPath GetContainer(const std::string& name) override { return service_.getContainer(name); }
    std::string Inspect(const std::string& name) override { return service_.inspect(name); }

    BusService& service_;
};

// The container interface, served for every container by one ObjectSubtree:
// each call and property read is for the container the subtree names.
class ContainerInterface final : public org::nixos::Containers::Container_adaptor {
public:
    ContainerInterface(ObjectSubtree& subtree, BusService& service)
        : Container_adaptor(subtree.recorder()), subtree_(subtree), service_(service) {}
    ContainerInterface(const ContainerInterface&) = delete;
    ContainerInterface& operator=(const ContainerInterface&) = delete;

private:
    const sdbus::Message& message() const { return *subtree_.currentMessage(); }
    const std::string& name() const { return subtree_.currentKey(); }
    const Container& self() const { return service_.view(name()); }
    const ContainerSpec& spec() const { return self().spec; }

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
    void Update(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> changes) override {
        service_.update(message(), std::move(result), name(), changes);
    }
    void Destroy(sdbus::Result<>&& result) override {
        service_.perform(message(), std::move(result), Verb::Destroy, name());
    }

    std::string Name() override { return name(); }
    std::string State() override { return std::string(toString(self().state)); }
    bool Declarative() override { return self().declarative; }
    std::string Unit() override { return self().unit; }
    uint32_t Leader() override { return self().leader; }
    std::string HostInterface() override { return self().hostInterface; }
    std::string RootDirectory() override { return self().root.string(); }
    std::vector<std::string> Addresses() override { return self().addresses; }
    std::string SystemPath() override {
        return spec().systemPath.empty() ? self().systemOnHost.string() : spec().systemPath;
    }
    std::string Config() override { return spec().config; }
    std::string ConfigFile() override { return spec().configFile; }
    std::string Flake() override { return spec().flake; }
    bool PrivateNetwork() override { return spec().privateNetwork; }
    std::string HostAddress() override { return spec().network.hostAddress; }
    std::string LocalAddress() override { return spec().network.localAddress; }
    std::string HostAddress6() override { return spec().network.hostAddress6; }
    std::string LocalAddress6() override { return spec().network.localAddress6; }
    std::string HostBridge() override { return spec().network.hostBridge; }
    PortRows ForwardPorts() override {
        PortRows rows;
        for (const auto& port : spec().forwardPorts) {
            rows.emplace_back(port.protocol, port.hostPort,
                              port.containerPort == 0 ? port.hostPort : port.containerPort);
        }
        return rows;
    }
    BindRows BindMounts() override {
        BindRows rows;
        for (const auto& bind : spec().bindMounts) {
            rows.emplace_back(bind.mountPoint, bind.hostPath.empty() ? bind.mountPoint : bind.hostPath,
                              bind.readOnly);
        }
        return rows;
    }
    std::vector<std::string> Tmpfs() override { return spec().tmpfs; }
    std::vector<std::string> AdditionalCapabilities() override { return spec().additionalCapabilities; }
    DeviceRows AllowedDevices() override {
        DeviceRows rows;
        for (const auto& device : spec().allowedDevices) {
            rows.emplace_back(device.node, device.modifier);
        }
        return rows;
    }
    bool EnableTun() override { return spec().enableTun; }
    bool Ephemeral() override { return spec().ephemeral; }
    bool AutoStart() override { return spec().autoStart; }
    std::string TimeoutStartSec() override { return spec().timeoutStartSec; }
    VethMap ExtraVeths() override {
        VethMap veths;
        for (const auto& [name, options] : spec().extraVeths) {
            veths[name] = {{"HostAddress", options.hostAddress},
                           {"LocalAddress", options.localAddress},
                           {"HostAddress6", options.hostAddress6},
                           {"LocalAddress6", options.localAddress6},
                           {"HostBridge", options.hostBridge}};
        }
        return veths;
    }
    std::vector<std::string> Interfaces() override { return spec().interfaces; }
    std::vector<std::string> Macvlans() override { return spec().macvlans; }
    std::vector<std::string> ExtraFlags() override { return spec().extraFlags; }

    ObjectSubtree& subtree_;
    BusService& service_;
};

// ------------------------------------------------------------ the service

BusService::BusService(sdbus::IConnection& connection)
    : connection_(connection),
      busDaemon_(sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus")),
      managerObject_(std::make_unique<ManagerObject>(connection, *this)),
      containerObjects_(std::make_unique<ObjectSubtree>(connection, std::string(kManagerPath) + "/container",
                                                        kContainerInterface)),
      containerInterface_(std::make_unique<ContainerInterface>(*containerObjects_, *this)) {
    containerObjects_->finishRegistration();
    busDaemon_->finishRegistration();
}

BusService::~BusService() {
    // The subtree's vtable calls into the interface: it goes first.
    containerObjects_.reset();
}

void BusService::attach(ContainerManager& manager) {
    manager_ = &manager;
}

std::string BusService::containerPath(const std::string& name) {
    return encodeObjectPath(std::string(kManagerPath) + "/container", name);
}

void BusService::resolveCaller(const sdbus::Message& message, std::function<void(Outcome<Caller>)> next) {
    Caller caller;
    caller.busName = message.getSender();
    caller.allowInteractive = allowsInteraction(message);
    // A unique bus name is never given to another connection, so its uid
    // can be remembered: a client's second call costs no round trip.
    if (auto known = callerUids_.find(caller.busName); known != callerUids_.end()) {
        caller.uid = known->second;
        next(caller);
        return;
    }
    // Asked of the bus daemon asynchronously: sd-bus's own creds query would
    // block the loop for a round trip.
    busDaemon_->callMethodAsync("GetConnectionUnixUser")
        .onInterface("org.freedesktop.DBus")
        .withArguments(caller.busName)
        .uponReplyInvoke(
            [this, caller, next = std::move(next)](const sdbus::Error* error, std::uint32_t uid) {
                if (error != nullptr) {
                    next(ContainerError(ErrorCode::AccessDenied,
                                        "cannot identify the caller: " + error->getMessage()));
                    return;
                }
                if (callerUids_.size() >= kMaxRememberedCallers) {
                    callerUids_.clear();  // names of gone clients; cheap to learn again
                }
                callerUids_.emplace(caller.busName, uid);
                auto identified = caller;
                identified.uid = uid;
                next(identified);
            });
}

void BusService::create(const sdbus::Message& message, sdbus::Result<sdbus::ObjectPath>&& result,
                        const std::string& name, const std::map<std::string, sdbus::Variant>& entries) {
    auto reply = shared(std::move(result));
    ContainerSpec spec;
    try {
        applySpecEntries(spec, entries);
    } catch (const ContainerError& error) {
        reply->returnError(toBusError(error));
        return;
    }
    resolveCaller(message, [this, reply, name, spec](Outcome<Caller> caller) {
        if (!caller.ok()) {
            reply->returnError(toBusError(caller.error()));
            return;
        }
        try {
            manager_->create(caller.value(), name, spec, [reply](Outcome<std::string> created) {
                if (!created.ok()) {
                    reply->returnError(toBusError(created.error()));
                    return;
                }
                reply->returnResults(sdbus::ObjectPath(containerPath(created.value())));
            });
        } catch (const std::exception& error) {
            replyFailure(reply, error);
        }
    });
}

void BusService::perform(const sdbus::Message& message, sdbus::Result<>&& result, Verb verb,
                         const std::string& name) {
    auto reply = shared(std::move(result));
    resolveCaller(message, [this, reply, verb, name](Outcome<Caller> caller) {
        if (!caller.ok()) {
            reply->returnError(toBusError(caller.error()));
            return;
        }
        try {
            manager_->perform(caller.value(), verb, name, replyWith(reply));
        } catch (const std::exception& error) {
            replyFailure(reply, error);
        }
    });
}

void BusService::update(const sdbus::Message& message, sdbus::Result<>&& result, const std::string& name,
                        const std::map<std::string, sdbus::Variant>& changes) {
    auto reply = shared(std::move(result));
    resolveCaller(message, [this, reply, name, changes](Outcome<Caller> caller) {
        if (!caller.ok()) {
            reply->returnError(toBusError(caller.error()));
            return;
        }
        // Decoded here; the core merges it into the spec it holds when it
        // acts, after authorisation.
        SpecPatch patch;
        try {
            patch = decodeSpecPatch(changes);
        } catch (const ContainerError& error) {
            reply->returnError(toBusError(error));
            return;
        }
        try {
            manager_->update(caller.value(), name, std::move(patch), replyWith(reply));
        } catch (const std::exception& error) {
            replyFailure(reply, error);
        }
    });
}

std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> BusService::list() const {
    std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> rows;
    rows.reserve(manager_->containers().size());
    // Both maps are ordered by name and hold the same names: walked side by
    // side, a row costs no lookup.
    auto path = paths_.begin();
    for (const auto& [name, container] : manager_->containers()) {
        while (path != paths_.end() && path->first < name) {
            ++path;
        }
        const bool known = path != paths_.end() && path->first == name;
        rows.emplace_back(name, std::string(toString(container.state)), container.declarative,
                          sdbus::ObjectPath(known ? path->second : containerPath(name)));
    }
    return rows;
}

sdbus::ObjectPath BusService::getContainer(const std::string& name) const {
    try {
        return sdbus::ObjectPath(containerPath(manager_->get(name).name));
    } catch (const ContainerError& error) {
        throw toBusError(error);
    }
}

std::string BusService::inspect(const std::string& name) const {
    try {
        // Text from disk may not be UTF-8: replaced, never thrown.
        return toJson(manager_->get(name)).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const ContainerError& error) {
        throw toBusError(error);
    }
}

const Container& BusService::view(const std::string& name) const {
    static const Container kGone;
    const auto* container = manager_ == nullptr ? nullptr : manager_->find(name);
    return container == nullptr ? kGone : *container;
}

void BusService::containerAdded(const Container& container) {
    auto path = containerPath(container.name);
    containerObjects_->add(path, container.name, announcing_);
    paths_.insert_or_assign(container.name, std::move(path));
    if (announcing_) {
        managerObject_->emitContainerNew(container.name, sdbus::ObjectPath(containerPath(container.name)));
    }
}

void BusService::containerRemoved(const std::string& name) {
    auto path = containerPath(name);
    containerObjects_->remove(path);
    paths_.erase(name);
    managerObject_->emitContainerRemoved(name, sdbus::ObjectPath(path));
}

std::vector<std::string> BusService::propertiesOf(ContainerFields fields) {
    // The spec keys' properties, then the live ones, as the interface lists them.
    static const std::vector<std::string> kSpecProperties = {"SystemPath",      "Config",
                                                             "ConfigFile",      "Flake",
                                                             "PrivateNetwork",  "HostAddress",
                                                             "LocalAddress",    "HostAddress6",
                                                             "LocalAddress6",   "HostBridge",
                                                             "ForwardPorts",    "BindMounts",
                                                             "Tmpfs",           "AdditionalCapabilities",
                                                             "AllowedDevices",  "EnableTun",
                                                             "Ephemeral",       "AutoStart",
                                                             "TimeoutStartSec", "ExtraVeths",
                                                             "Interfaces",      "Macvlans",
                                                             "ExtraFlags"};
    static const std::vector<std::pair<ContainerField, std::string>> kLiveProperties = {
        {ContainerField::State, "State"},         {ContainerField::Leader, "Leader"},
        {ContainerField::Addresses, "Addresses"}, {ContainerField::HostInterface, "HostInterface"},
        {ContainerField::Unit, "Unit"},           {ContainerField::RootDirectory, "RootDirectory"}};
    std::vector<std::string> properties;
    if (fields.has(ContainerField::Spec)) {
        properties = kSpecProperties;
    }
    for (const auto& [field, property] : kLiveProperties) {
        if (fields.has(field)) {
            properties.push_back(property);
        }
    }
    return properties;
}

void BusService::containerChanged(const Container& container, ContainerFields fields) {
    if (!announcing_ || fields.empty()) {
        return;
    }
    if (auto path = paths_.find(container.name); path != paths_.end()) {
        containerObjects_->emitPropertiesChanged(path->second, propertiesOf(fields));
    }
}

void BusService::buildOutput(const std::string& name, const std::string& line) {
    try {
        managerObject_->emitBuildOutput(name, sanitizeUtf8(line));
    } catch (const sdbus::Error& error) {
        logWarning("cannot emit BuildOutput for '" + name + "': " + error.getMessage());
    }
}

}  // namespace nixos_containers
