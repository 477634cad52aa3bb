#pragma once

#include "system_seams.h"

#include <sdbus-c++/sdbus-c++.h>

#include <memory>
#include <string>

namespace nixos_containers {

// MachineRegistry over org.freedesktop.machine1.
class MachinedClient final : public MachineRegistry {
public:
    // `worker` reads what the service reads of a container's tree itself.
    MachinedClient(sdbus::IConnection& connection, Worker& worker,
                   std::string destination = "org.freedesktop.machine1");

    void terminateMachine(const std::string& name, StatusCallback done) override;
    void getMachine(const std::string& name, Callback<std::optional<MachineInfo>> done) override;
    void listMachines(Callback<std::vector<MachineInfo>> done) override;
    void machineAddresses(const std::string& name, Callback<std::vector<std::string>> done) override;
    void machineOSRelease(const std::string& name,
                          Callback<std::map<std::string, std::string>> done) override;
    void openShell(const std::string& name, const ShellRequest& request,
                   Callback<MachineTerminal> done) override;
    void openLogin(const std::string& name, Callback<MachineTerminal> done) override;
    void watchMachines(std::function<void(const std::string&, bool)> onChange) override;

private:
    void readMachine(const std::string& name, const sdbus::ObjectPath& path,
                     Callback<std::optional<MachineInfo>> done);

    sdbus::IConnection& connection_;
    Worker& worker_;
    std::string destination_;
    std::unique_ptr<sdbus::IProxy> manager_;
    std::function<void(const std::string&, bool)> onChange_;
};

}  // namespace nixos_containers
