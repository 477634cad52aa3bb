#pragma once

#include "container_manager.h"

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>

struct sd_bus_message;

namespace nixos_containers {

class ManagerObject;
class ContainerInterface;
class ObjectSubtree;

// The D-Bus face of the service: the manager object (manager_object.h), one
// object per container (container_object.h), and the glue they share, which
// unpacks, resolves the caller, calls the core and maps its errors. Both the
// manager's verbs and each container object's verbs end in the same
// functions here.
class BusService final : public ContainerObserver {
public:
    explicit BusService(sdbus::IConnection& connection);
    ~BusService() override;
    BusService(const BusService&) = delete;
    BusService& operator=(const BusService&) = delete;

    // The manager is made after this object (it observes us), then attached.
    void attach(ContainerManager& manager);
    // Until the service owns its name nobody can follow its signals: objects
    // are published silently (no InterfacesAdded, ContainerNew or
    // PropertiesChanged), which with many containers is most of the startup.
    // Call right before requesting the name.
    void announce() { announcing_ = true; }

    static constexpr const char* kManagerPath = "/org/nixos/Containers";
    // sd_bus_path_encode(kManagerPath + "/container", name): what a client
    // computes from the name, as systemd's tools do for units and machines.
    static std::string containerPath(const std::string& name);

    // Entry points of both objects.
    void create(const sdbus::Message& message, sdbus::Result<sdbus::ObjectPath>&& result,
                const std::string& name, const std::map<std::string, sdbus::Variant>& spec);
    void perform(const sdbus::Message& message, sdbus::Result<>&& result, Verb verb, const std::string& name);
    void switchGeneration(const sdbus::Message& message, sdbus::Result<>&& result, const std::string& name,
                          std::uint32_t generation);
    // GetPermissions: what the caller may do to NAME, asked of polkit without interaction.
    void permissions(const sdbus::Message& message,
                     sdbus::Result<std::map<std::string, std::string>>&& result, const std::string& name);
    // ApplyDeclarative's answer: (name, result, error name, message).
    using DeclarativeOutcomeRow = sdbus::Struct<std::string, std::string, std::string, std::string>;
    void applyDeclarative(const sdbus::Message& message,
                          sdbus::Result<std::vector<DeclarativeOutcomeRow>>&& result, const std::string& set);
    void update(const sdbus::Message& message, sdbus::Result<>&& result, const std::string& name,
                const std::map<std::string, sdbus::Variant>& changes);
    void run(const sdbus::Message& message, sdbus::Result<int32_t, int32_t>&& result, const std::string& name,
             const std::vector<std::string>& command, const std::map<std::string, sdbus::Variant>& options,
             sdbus::UnixFd&& in, sdbus::UnixFd&& out, sdbus::UnixFd&& err);
    void openShell(const sdbus::Message& message, sdbus::Result<sdbus::UnixFd, std::string>&& result,
                   const std::string& name, ShellRequest request);
    void openLogin(const sdbus::Message& message, sdbus::Result<sdbus::UnixFd, std::string>&& result,
                   const std::string& name);
    void openLogs(const sdbus::Message& message, sdbus::Result<sdbus::UnixFd>&& result,
                  const std::string& name, std::uint32_t lines, bool follow);
    void hostKey(sdbus::Result<std::string>&& result, const std::string& name);
    std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> list() const;
    sdbus::ObjectPath getContainer(const std::string& name) const;
    void inspect(const sdbus::Message& message, sdbus::Result<std::string>&& result, const std::string& name);
    // For property getters: an empty container when it just went away,
    // since properties are not supposed to return errors.
    const Container& view(const std::string& name) const;

    // ContainerObserver
    void containerAdded(const Container& container) override;
    void containerRemoved(const std::string& name) override;
    void containerChanged(const Container& container, ContainerFields fields) override;
    // The D-Bus properties that show `fields`.
    static std::vector<std::string> propertiesOf(ContainerFields fields);
    void buildOutput(const std::string& name, const std::string& line, const std::string& recipient) override;

private:
    void resolveCaller(const sdbus::Message& message, std::function<void(Outcome<Caller>)> next);
    // resolveCaller, then `body(caller)`: an unidentified caller gets its
    // named error, a ContainerError `body` throws its named error, anything
    // else org.freedesktop.DBus.Error.Failed. Defined in bus_service.cpp.
    template <typename Reply, typename Body>
    void asCaller(const sdbus::Message& message, const Reply& reply, Body body);
    // NameOwnerChanged with no new owner: a caller left the bus.
    void nameLost(const std::string& name);

    sdbus::IConnection& connection_;
    ContainerManager* manager_ = nullptr;
    std::unique_ptr<sdbus::IProxy> busDaemon_;
    std::unique_ptr<ManagerObject> managerObject_;
    std::unique_ptr<ObjectSubtree> containerObjects_;
    std::unique_ptr<ContainerInterface> containerInterface_;
    std::map<std::string, std::string> paths_;  // object path by container name, ordered as the manager's
    static constexpr std::size_t kMaxRememberedCallers = 4096;
    std::unordered_map<std::string, std::uint32_t> callerUids_;
    bool announcing_ = false;
};

// The sd_bus_message under `message`, for what sdbus-c++ 1.2 cannot do.
sd_bus_message* rawMessage(const sdbus::Message& message);

// Maps a core error to its D-Bus error.
sdbus::Error toBusError(const ContainerError& error);

}  // namespace nixos_containers
