#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <memory>
#include <string>

namespace nixos_containers {

class BusService;

// The manager object, /org/nixos/Containers: its methods name the container
// and end in BusService; its signals are sent from here.
class ManagerObject {
public:
    ManagerObject(sdbus::IConnection& connection, BusService& service);
    ~ManagerObject();
    ManagerObject(const ManagerObject&) = delete;
    ManagerObject& operator=(const ManagerObject&) = delete;

    void emitContainerNew(const std::string& name, const sdbus::ObjectPath& path);
    void emitContainerRemoved(const std::string& name, const sdbus::ObjectPath& path);
    // BuildOutput as a unicast signal: to the caller whose build it is, not
    // to every client on the bus.
    void sendBuildOutput(const std::string& recipient, const std::string& name, const std::string& line);

private:
    // The generated adaptor's overrides, kept out of this header.
    class Adaptor;
    std::unique_ptr<Adaptor> adaptor_;
};

}  // namespace nixos_containers
