#include "bus_service.h"

#include "bus_names.h"
#include "container_json.h"
#include "container_object.h"
#include "log.h"
#include "manager_object.h"
#include "object_subtree.h"
#include "spec_decoder.h"
#include "utf8.h"
#include "validation.h"

#include <systemd/sd-bus.h>

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

bool allowsInteraction(const sdbus::Message& message) {
    return sd_bus_message_get_allow_interactive_authorization(MessageAccess::raw(message)) > 0;
}

template <typename... Results>
auto shared(sdbus::Result<Results...>&& result) {
    return std::make_shared<sdbus::Result<Results...>>(std::move(result));
}

}  // namespace

sd_bus_message* rawMessage(const sdbus::Message& message) {
    return MessageAccess::raw(message);
}

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

void BusService::switchGeneration(const sdbus::Message& message, sdbus::Result<>&& result,
                                  const std::string& name, std::uint32_t generation) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name, generation](const Caller& caller) {
        manager_->switchGeneration(caller, name, generation, replyWith(reply));
    });
}

void BusService::permissions(const sdbus::Message& message,
                             sdbus::Result<std::map<std::string, std::string>>&& result,
                             const std::string& name) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name](const Caller& caller) {
        manager_->permissions(caller, name,
                              [reply](const Outcome<std::map<std::string, std::string>>& rights) {
                                  if (!rights.ok()) {
                                      reply->returnError(toBusError(rights.error()));
                                      return;
                                  }
                                  reply->returnResults(rights.value());
                              });
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

void BusService::openLogs(const sdbus::Message& message, sdbus::Result<sdbus::UnixFd>&& result,
                          const std::string& name, std::uint32_t lines, bool follow) {
    auto reply = shared(std::move(result));
    asCaller(message, reply, [this, reply, name, lines, follow](const Caller& caller) {
        manager_->openLogs(caller, name, lines, follow,
                           [reply](const Outcome<std::shared_ptr<UniqueFd>>& logs) {
                               if (!logs.ok()) {
                                   reply->returnError(toBusError(logs.error()));
                                   return;
                               }
                               reply->returnResults(sdbus::UnixFd(logs.value()->release(), sdbus::adopt_fd));
                           });
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
