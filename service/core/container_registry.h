#pragma once

#include "address_pool.h"
#include "container.h"
#include "container_observer.h"
#include "container_store.h"
#include "host_network.h"
#include "settings.h"
#include "system_seams.h"

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace nixos_containers {

// Why a verb refuses a container whose conf is broken, and what to do.
std::string brokenConfError(const Container& container);

// What containers exist and what state they are in: from disk, systemd's
// units and machined's machines. The one owner of that state: verbs ask it
// and tell it, and it tells the observer. Also holds what pending Creates
// and Updates have reserved (addresses, host ports).
class ContainerRegistry {
public:
    ContainerRegistry(const Settings& settings, ContainerStore& store, SystemdManager& systemd,
                      MachineRegistry& machines, HostNetwork& network, ContainerObserver& observer);

    // Loads every container from disk, follows systemd's and machined's
    // signals, and learns each container's state; completes when the
    // service knows the world.
    void recover(StatusCallback done);

    [[nodiscard]] const Container* find(const std::string& name) const;
    // Throws NoSuchContainer / InvalidArgument.
    [[nodiscard]] const Container& get(const std::string& name) const;
    [[nodiscard]] Container& at(const std::string& name) { return containers_.at(name); }
    [[nodiscard]] const std::map<std::string, Container>& all() const { return containers_; }

    // Adds (or replaces) a container, with its derived fields.
    void publish(Container container);
    void remove(const std::string& name);
    // Root, system, host interface and the profile's generations, from the
    // spec and the profile: the one place they are derived.
    void derive(Container& container) const;

    void setState(Container& container, ContainerState state);
    void changed(const Container& container, ContainerFields fields) {
        observer_.containerChanged(container, fields);
    }
    void operationBegan(const std::string& name, const std::string& verb);
    void operationEnded(const std::string& name, const Status& status);

    // Asks systemd for the unit's state (dropped when a unit signal came meanwhile).
    void refreshFromSystem(const std::string& name, std::function<void()> next);
    // Asks machined for the leader, then the addresses.
    void refreshMachine(const std::string& name, std::function<void()> next);
    // Publishes the planned addresses, then machined's when it has them.
    void refreshAddresses(Container& container);
    // machined's os-release of a running container, PropertiesChanged when it comes.
    void refreshOSRelease(Container& container);
    // After an operation: unit signals that came meanwhile were only shown,
    // not acted on. Asks systemd once more, and releases the network of a
    // container that went away meanwhile.
    void reconcile(const std::string& name);

    AddressPool& addresses() { return addresses_; }
    // Specs of Creates and Updates in progress, for the clash checks.
    // A Create reserves with its caller's uid, so the per-user cap counts it.
    void reserve(const std::string& name, const ContainerSpec& spec,
                 std::optional<std::uint32_t> creator = {}) {
        pending_[name] = spec;
        if (creator) {
            creators_[name] = *creator;
        }
    }
    void unreserve(const std::string& name) {
        pending_.erase(name);
        creators_.erase(name);
    }
    // Containers uid owns, those being created included.
    [[nodiscard]] std::size_t ownedBy(std::uint32_t uid) const;
    [[nodiscard]] bool reserved(const std::string& name) const { return pending_.contains(name); }
    // Throws InvalidArgument when another container (existing or pending)
    // already forwards one of spec's host ports.
    void checkPortsFree(const std::string& name, const ContainerSpec& spec) const;
    // Throws InvalidArgument when another container (existing or pending)
    // holds one of the addresses spec names (HostAddress, LocalAddress and
    // their v6 kin). Asked of callers but root: the module lets root's
    // containers share addresses they never use at once, and a tenant could
    // otherwise take another container's pair and what trusts it.
    void checkAddressesFree(const std::string& name, const ContainerSpec& spec) const;

private:
    // Asks systemd why the unit failed, for Container::unitResult.
    void learnUnitResult(const Container& container);
    // `eventsAtListing`: each container's unitEvents when systemd's listing
    // came; a container with newer signals keeps what they said.
    void learnWorld(const std::map<std::string, UnitState>& units,
                    const std::map<std::string, std::uint64_t>& eventsAtListing,
                    const std::vector<MachineInfo>& machines);
    void onUnitChanged(const std::string& unit, const UnitState& state);
    void onMachineChanged(const std::string& name, bool present);

    const Settings& settings_;
    ContainerStore& store_;
    SystemdManager& systemd_;
    MachineRegistry& machines_;
    HostNetwork& network_;
    ContainerObserver& observer_;
    AddressPool addresses_;
    std::map<std::string, Container> containers_;
    std::map<std::string, std::string> unitToContainer_;
    std::map<std::string, ContainerSpec> pending_;
    std::map<std::string, std::uint32_t> creators_;
};

}  // namespace nixos_containers
