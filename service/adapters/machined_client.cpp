#include "machined_client.h"

#include "container_users.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <memory>

namespace nixos_containers {

namespace {
constexpr const char* kManager = "org.freedesktop.machine1.Manager";
constexpr const char* kMachine = "org.freedesktop.machine1.Machine";
constexpr const char* kNoSuchMachine = "org.freedesktop.machine1.NoSuchMachine";

ContainerError peerError(const std::string& what, const sdbus::Error& error) {
    return {ErrorCode::Failed, what + ": " + error.getMessage() + " (" + error.getName() + ")"};
}

// machined's answer to OpenMachineShell/OpenMachineLogin. It reaches the
// container's system bus at /run/dbus/system_bus_socket inside it; ENOENT
// there (sd-bus names it FileNotFound) means no bus, so no systemd to ask.
void answerTerminal(const std::string& name, const std::string& what, const sdbus::Error* error,
                    sdbus::UnixFd master, const std::string& path, const Callback<MachineTerminal>& done) {
    if (error == nullptr) {
        done(MachineTerminal{std::make_shared<UniqueFd>(master.release()), path});
        return;
    }
    if (error->getName() == kNoSuchMachine) {
        done(ContainerError(ErrorCode::NotRunning, "container '" + name + "' is not running"));
    } else if (error->getName() == "org.freedesktop.DBus.Error.FileNotFound" ||
               error->getName() == "System.Error.ENOENT" || error->getName() == "System.Error.ECONNREFUSED") {
        done(ContainerError(ErrorCode::NoSystemBus,
                            "container '" + name + "' runs no system bus (" + error->getMessage() + "); " +
                                what +
                                " needs systemd and D-Bus inside the container. Run works without them"));
    } else {
        done(peerError("machined cannot open a " + what + " in '" + name + "'", *error));
    }
}
}  // namespace

MachinedClient::MachinedClient(sdbus::IConnection& connection, Worker& worker, std::string destination)
    : connection_(connection),
      worker_(worker),
      destination_(std::move(destination)),
      manager_(sdbus::createProxy(connection, destination_, "/org/freedesktop/machine1")) {
    manager_->uponSignal("MachineNew")
        .onInterface(kManager)
        .call([this](const std::string& name, const sdbus::ObjectPath&) {
            if (onChange_) {
                onChange_(name, true);
            }
        });
    manager_->uponSignal("MachineRemoved")
        .onInterface(kManager)
        .call([this](const std::string& name, const sdbus::ObjectPath&) {
            if (onChange_) {
                onChange_(name, false);
            }
        });
    manager_->finishRegistration();
}

void MachinedClient::watchMachines(std::function<void(const std::string&, bool)> onChange) {
    onChange_ = std::move(onChange);
}

void MachinedClient::terminateMachine(const std::string& name, StatusCallback done) {
    manager_->callMethodAsync("TerminateMachine")
        .onInterface(kManager)
        .withArguments(name)
        .uponReplyInvoke([name, done = std::move(done)](const sdbus::Error* error) {
            if (error != nullptr && error->getName() != kNoSuchMachine) {
                done(peerError("machined cannot terminate '" + name + "'", *error));
                return;
            }
            done(Done{});
        });
}

void MachinedClient::readMachine(const std::string& name, const sdbus::ObjectPath& path,
                                 Callback<std::optional<MachineInfo>> done) {
    auto proxy = std::shared_ptr<sdbus::IProxy>(sdbus::createProxy(connection_, destination_, path));
    proxy->callMethodAsync("GetAll")
        .onInterface("org.freedesktop.DBus.Properties")
        .withArguments(std::string(kMachine))
        .uponReplyInvoke([proxy, name, path, done = std::move(done)](
                             const sdbus::Error* error, const std::map<std::string, sdbus::Variant>& values) {
            if (error != nullptr) {
                // Gone between the two calls: as good as absent.
                done(std::optional<MachineInfo>{});
                return;
            }
            MachineInfo info;
            info.name = name;
            if (auto found = values.find("Unit"); found != values.end()) {
                info.unit = found->second.get<std::string>();
            }
            if (auto found = values.find("Leader"); found != values.end()) {
                info.leader = found->second.get<std::uint32_t>();
            }
            info.path = path;
            if (auto found = values.find("Timestamp");
                found != values.end() && found->second.containsValueOfType<std::uint64_t>()) {
                info.timestamp = found->second.get<std::uint64_t>();
            }
            done(std::optional<MachineInfo>(info));
        });
}

void MachinedClient::getMachine(const std::string& name, Callback<std::optional<MachineInfo>> done) {
    manager_->callMethodAsync("GetMachine")
        .onInterface(kManager)
        .withArguments(name)
        .uponReplyInvoke(
            [this, name, done = std::move(done)](const sdbus::Error* error, const sdbus::ObjectPath& path) {
                if (error != nullptr) {
                    if (error->getName() == kNoSuchMachine) {
                        done(std::optional<MachineInfo>{});
                    } else {
                        done(peerError("machined cannot find '" + name + "'", *error));
                    }
                    return;
                }
                readMachine(name, path, done);
            });
}

void MachinedClient::listMachines(Callback<std::vector<MachineInfo>> done) {
    using Row = sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>;
    manager_->callMethodAsync("ListMachines")
        .onInterface(kManager)
        .uponReplyInvoke(
            [this, done = std::move(done)](const sdbus::Error* error, const std::vector<Row>& rows) {
                if (error != nullptr) {
                    done(peerError("machined cannot list machines", *error));
                    return;
                }
                struct Gather {
                    std::vector<MachineInfo> machines;
                    std::size_t waiting = 0;
                    Callback<std::vector<MachineInfo>> done;
                };
                auto gather = std::make_shared<Gather>();
                gather->waiting = rows.size();
                gather->done = done;
                if (rows.empty()) {
                    done(std::vector<MachineInfo>{});
                    return;
                }
                for (const auto& row : rows) {
                    readMachine(row.get<0>(), row.get<3>(),
                                [gather](Outcome<std::optional<MachineInfo>> machine) {
                                    if (machine.ok() && machine.value()) {
                                        gather->machines.push_back(*machine.value());
                                    }
                                    if (--gather->waiting == 0) {
                                        gather->done(gather->machines);
                                    }
                                });
                }
            });
}

void MachinedClient::machineAddresses(const std::string& name, Callback<std::vector<std::string>> done) {
    using Address = sdbus::Struct<std::int32_t, std::vector<std::uint8_t>>;
    manager_->callMethodAsync("GetMachineAddresses")
        .onInterface(kManager)
        .withArguments(name)
        .uponReplyInvoke(
            [name, done = std::move(done)](const sdbus::Error* error, const std::vector<Address>& addresses) {
                if (error != nullptr) {
                    done(peerError("machined cannot list addresses of '" + name + "'", *error));
                    return;
                }
                std::vector<std::string> out;
                for (const auto& address : addresses) {
                    char text[INET6_ADDRSTRLEN] = {};
                    const auto& bytes = address.get<1>();
                    int family = address.get<0>();
                    bool sized = (family == AF_INET && bytes.size() == 4) ||
                                 (family == AF_INET6 && bytes.size() == 16);
                    if (sized && inet_ntop(family, bytes.data(), text, sizeof(text)) != nullptr) {
                        out.emplace_back(text);
                    }
                }
                done(out);
            });
}

void MachinedClient::machineOSRelease(const std::string& name,
                                      Callback<std::map<std::string, std::string>> done) {
    // Not machined's GetMachineOSRelease: machined (252) reads the file the
    // container's root controls and waits for it, so a FIFO planted there
    // hangs machined for every machine on the host. The service reads it
    // itself, beneath the leader's root, off the loop, bounded.
    getMachine(name, [this, name, done = std::move(done)](Outcome<std::optional<MachineInfo>> found) {
        if (!found.ok()) {
            done(found.error());
            return;
        }
        if (!found.value() || found.value()->leader == 0) {
            done(ContainerError(ErrorCode::NotRunning, "machined knows no running machine '" + name + "'"));
            return;
        }
        const auto leader = static_cast<pid_t>(found.value()->leader);
        auto fields = std::make_shared<std::map<std::string, std::string>>();
        worker_.run([leader, fields] { *fields = readOSRelease(leader); },
                    [name, fields, done](const Status& read) {
                        if (!read.ok()) {
                            done(ContainerError(ErrorCode::IOError, "cannot read the os-release of '" + name +
                                                                        "': " + read.error().what()));
                            return;
                        }
                        done(*fields);
                    });
    });
}

void MachinedClient::openShell(const std::string& name, const ShellRequest& request,
                               Callback<MachineTerminal> done) {
    manager_->callMethodAsync("OpenMachineShell")
        .onInterface(kManager)
        .withArguments(name, request.user, request.path, request.args, request.environment)
        .uponReplyInvoke([name, done = std::move(done)](const sdbus::Error* error, sdbus::UnixFd master,
                                                        const std::string& path) {
            answerTerminal(name, "shell", error, std::move(master), path, done);
        });
}

void MachinedClient::openLogin(const std::string& name, Callback<MachineTerminal> done) {
    manager_->callMethodAsync("OpenMachineLogin")
        .onInterface(kManager)
        .withArguments(name)
        .uponReplyInvoke([name, done = std::move(done)](const sdbus::Error* error, sdbus::UnixFd master,
                                                        const std::string& path) {
            answerTerminal(name, "login", error, std::move(master), path, done);
        });
}

}  // namespace nixos_containers
