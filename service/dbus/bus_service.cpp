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
#include "spec_keys.h"
#include "spec_value_bus.h"
#include "utf8.h"
#include "validation.h"

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

// ------------------------------------------------------------ the service

BusService::BusService(sdbus::IConnection& connection)
    : connection_(connection),
      busDaemon_(sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus")),
      managerObject_(std::make_unique<ManagerObject>(connection, *this)),
      containerObjects_(std::make_unique<ObjectSubtree>(connection, std::string(kManagerPath) + "/container",
                                                        kContainerInterface)),
      containerInterface_(std::make_unique<ContainerInterface>(*containerObjects_, *this)) {
    containerObjects_->finishRegistration();
    // Before any call can come: a Run's caller that leaves is never missed.
    busDaemon_->uponSignal("NameOwnerChanged")
        .onInterface("org.freedesktop.DBus")
        .call([this](const std::string& name, const std::string& /*oldOwner*/, const std::string& newOwner) {
            if (newOwner.empty() && !name.empty() && name.front() == ':') {
                nameLost(name);
            }
        });
    busDaemon_->finishRegistration();
}

void BusService::nameLost(const std::string& name) {
    callerUids_.erase(name);
    if (manager_ != nullptr) {
        manager_->callerGone(name);
    }
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

template <typename Reply, typename Body>
void BusService::asCaller(const sdbus::Message& message, const Reply& reply, Body body) {
    resolveCaller(message, [reply, body = std::move(body)](Outcome<Caller> caller) {
        if (!caller.ok()) {
            reply->returnError(toBusError(caller.error()));
            return;
        }
        try {
            body(caller.value());
        } catch (const ContainerError& error) {
            reply->returnError(toBusError(error));
        } catch (const std::exception& error) {
            replyFailure(reply, error);
        }
    });
}

void BusService::create(const sdbus::Message& message, sdbus::Result<sdbus::ObjectPath>&& result,
                        const std::string& name, const std::map<std::string, sdbus::Variant>& entries) {
    auto reply = shared(std::move(result));
    ContainerSpec spec;
    try {
        applySpecEntries(spec, entries);
        if (!entries.contains("PrivateUsers")) {
            spec.privateUsers.clear();  // the manager chooses by caller
        } else {
            validatePrivateUsersValue(spec.privateUsers);  // given empty is no choice
        }
    } catch (const ContainerError& error) {
        reply->returnError(toBusError(error));
        return;
    }
    asCaller(message, reply, [this, reply, name, spec](const Caller& caller) {
        manager_->create(caller, name, spec, [reply](Outcome<std::string> created) {
            if (!created.ok()) {
                reply->returnError(toBusError(created.error()));
                return;
            }
            reply->returnResults(sdbus::ObjectPath(containerPath(created.value())));
        });
    });
}

void BusService::applyDeclarative(const sdbus::Message& message,
                                  sdbus::Result<std::vector<DeclarativeOutcomeRow>>&& result,
                                  const std::string& set) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, set](const Caller& caller) {
        manager_->applyDeclarative(caller, set, [reply](Outcome<std::vector<DeclarativeOutcome>> applied) {
            if (!applied.ok()) {
                reply->returnError(toBusError(applied.error()));
                return;
            }
            std::vector<DeclarativeOutcomeRow> rows;
            for (const auto& outcome : applied.value()) {
                rows.emplace_back(outcome.name, outcome.result, outcome.error, outcome.message);
            }
            reply->returnResults(rows);
        });
    });
}

void BusService::perform(const sdbus::Message& message, sdbus::Result<>&& result, Verb verb,
                         const std::string& name) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, verb, name](const Caller& caller) {
        manager_->perform(caller, verb, name, replyWith(reply));
    });
}

void BusService::update(const sdbus::Message& message, sdbus::Result<>&& result, const std::string& name,
                        const std::map<std::string, sdbus::Variant>& changes) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name, changes](const Caller& caller) {
        // Decoded here (InvalidArgument is the answer); the core merges it
        // into the spec it holds when it acts, after authorisation.
        manager_->update(caller, name, decodeSpecPatch(changes), replyWith(reply));
    });
}

namespace {
RunOptions decodeRunOptions(const std::map<std::string, sdbus::Variant>& options) {
    RunOptions decoded;
    for (const auto& [key, value] : options) {
        const auto type = value.peekValueType();
        if (key == "User" && type == "s") {
            decoded.user = value.get<std::string>();
        } else if (key == "Environment" && type == "as") {
            decoded.environment = value.get<std::vector<std::string>>();
        } else if (key == "WorkingDirectory" && type == "s") {
            decoded.workingDirectory = value.get<std::string>();
        } else if (key == "User" || key == "Environment" || key == "WorkingDirectory") {
            throwInvalid("option " + key + " has type '" + type + "'");
        } else {
            throwInvalid("unknown option " + quoteValue(key) +
                         "; known: User, Environment, WorkingDirectory");
        }
    }
    return decoded;
}
}  // namespace

void BusService::run(const sdbus::Message& message, sdbus::Result<int32_t, int32_t>&& result,
                     const std::string& name, const std::vector<std::string>& command,
                     const std::map<std::string, sdbus::Variant>& options, sdbus::UnixFd&& in,
                     sdbus::UnixFd&& out, sdbus::UnixFd&& err) {
    auto reply = shared(std::move(result));
    RunCommand run;
    try {
        run.argv = command;
        run.options = decodeRunOptions(options);
    } catch (const ContainerError& error) {
        reply->returnError(toBusError(error));
        return;
    }
    // Owned by the core from here; closed as soon as the command is forked.
    run.stdio = std::make_shared<StdioFds>();
    run.stdio->in.reset(in.release());
    run.stdio->out.reset(out.release());
    run.stdio->err.reset(err.release());
    asCaller(message, reply, [this, reply, name, run](const Caller& caller) {
        manager_->run(caller, name, run, [reply](const Outcome<ProcessExit>& exit) {
            if (!exit.ok()) {
                reply->returnError(toBusError(exit.error()));
                return;
            }
            reply->returnResults(exit.value().exitStatus, exit.value().signal);
        });
    });
}

namespace {
// The PTY's master goes to the caller; the service's copy closes with the reply.
Callback<MachineTerminal> replyWithTerminal(
    const std::shared_ptr<sdbus::Result<sdbus::UnixFd, std::string>>& reply) {
    return [reply](const Outcome<MachineTerminal>& terminal) {
        if (!terminal.ok()) {
            reply->returnError(toBusError(terminal.error()));
            return;
        }
        reply->returnResults(sdbus::UnixFd(terminal.value().master->release(), sdbus::adopt_fd),
                             sanitizeUtf8(terminal.value().path));
    };
}
}  // namespace

void BusService::openShell(const sdbus::Message& message, sdbus::Result<sdbus::UnixFd, std::string>&& result,
                           const std::string& name, ShellRequest request) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name, request = std::move(request)](const Caller& caller) {
        manager_->openShell(caller, name, request, replyWithTerminal(reply));
    });
}

void BusService::openLogin(const sdbus::Message& message, sdbus::Result<sdbus::UnixFd, std::string>&& result,
                           const std::string& name) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name](const Caller& caller) {
        manager_->openLogin(caller, name, replyWithTerminal(reply));
    });
}

void BusService::hostKey(sdbus::Result<std::string>&& result, const std::string& name) {
    auto reply = shared(std::move(result));
    try {
        manager_->hostKey(name, [reply](const Outcome<std::string>& key) {
            if (!key.ok()) {
                reply->returnError(toBusError(key.error()));
                return;
            }
            reply->returnResults(sanitizeUtf8(key.value()));
        });
    } catch (const std::exception& error) {
        replyFailure(reply, error);
    }
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

void BusService::inspect(const sdbus::Message& message, sdbus::Result<std::string>&& result,
                         const std::string& name) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name](const Caller& caller) {
        manager_->seesSecrets(caller, name, [this, reply, name](const Outcome<bool>& sees) {
            if (!sees.ok()) {
                reply->returnError(toBusError(sees.error()));
                return;
            }
            const auto* container = manager_->find(name);  // gone while polkit thought?
            if (container == nullptr) {
                reply->returnError(toBusError(
                    ContainerError(ErrorCode::NoSuchContainer, "no container named '" + name + "'")));
                return;
            }
            // Text from disk may not be UTF-8: replaced, never thrown.
            reply->returnResults(toJson(*container, sees.value())
                                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
        });
    });
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
    // The spec keys' properties, then the live ones.
    static const std::vector<std::string> kSpecProperties = [] {
        std::vector<std::string> names;
        for (const auto& key : specKeys()) {
            names.emplace_back(key.busName);
        }
        return names;
    }();
    static const std::vector<std::pair<ContainerField, std::string>> kLiveProperties = {
        {ContainerField::State, "State"},
        {ContainerField::Leader, "Leader"},
        {ContainerField::Addresses, "Addresses"},
        {ContainerField::HostInterface, "HostInterface"},
        {ContainerField::Unit, "Unit"},
        {ContainerField::RootDirectory, "RootDirectory"},
        {ContainerField::Leader, "MachinePath"},
        {ContainerField::Leader, "Timestamp"},
        {ContainerField::Leader, "OSRelease"},
        {ContainerField::State, "UnitResult"},
        {ContainerField::Generations, "Generations"}};
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

void BusService::buildOutput(const std::string& name, const std::string& line, const std::string& recipient) {
    try {
        managerObject_->sendBuildOutput(recipient, name, sanitizeUtf8(line));
    } catch (const sdbus::Error& error) {
        logWarning("cannot emit BuildOutput for '" + name + "': " + error.getMessage());
    }
}

}  // namespace nixos_containers
