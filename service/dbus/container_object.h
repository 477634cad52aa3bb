#pragma once

#include <memory>

namespace nixos_containers {

class BusService;
class ObjectSubtree;

// The container interface, served for every container by one ObjectSubtree:
// each call and property read is for the container the subtree names.
// Its methods end in BusService; its properties read the container.
class ContainerInterface {
public:
    ContainerInterface(ObjectSubtree& subtree, BusService& service);
    ~ContainerInterface();
    ContainerInterface(const ContainerInterface&) = delete;
    ContainerInterface& operator=(const ContainerInterface&) = delete;

private:
    // The generated adaptor's overrides, kept out of this header.
    class Adaptor;
    std::unique_ptr<Adaptor> adaptor_;
};

}  // namespace nixos_containers
