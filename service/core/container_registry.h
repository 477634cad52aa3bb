#pragma once

#include "address_pool.h"
#include "container.h"
#include "container_change.h"
#include "container_observer.h"
#include "container_store.h"
#include "host_network.h"
#include "settings.h"
#include "system_seams.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace nixos_containers {

// Why a verb refuses a container whose conf is broken, and what to do.
std::string brokenConfError(const Container& container);

// What containers exist and what state they are in: from disk, systemd's
// units and machined's machines. The one owner of that state: verbs ask it
// and tell it, and it tells the observer. Creates and Updates change it
// through a ContainerChange (beginCreate, beginChange), which holds their
// name, addresses and host ports until it is committed or rolled back.
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

    // Whether a change's private network without addresses (and without a
    // bridge) gets a pair of the pool: a Create's and an Update's do; a
    // Rollback, which changes the system alone, keeps the network it has.
    enum class PoolPair { GiveIfNone, Keep };
    // Holds NAME and what `spec` uses for a Create by `creator`, who owns it
    // from now on (ownedBy). Throws AlreadyExists when a container or another
    // change has the name, LimitsExceeded when the pool has no pair left.
    // Asked after the clash checks (checkPortsFree, checkAddressesFree).
    ContainerChange beginCreate(const std::string& name, ContainerSpec spec, std::uint32_t creator);
    // Holds the new spec of the existing container NAME. Throws
    // NoSuchContainer, Busy when another change holds it, LimitsExceeded.
    ContainerChange beginChange(const std::string& name, ContainerSpec spec,
                                PoolPair pair = PoolPair::GiveIfNone);
    // Containers uid owns, those being created included.
    [[nodiscard]] std::size_t ownedBy(std::uint32_t uid) const;
    // Whether a change (a Create or Update in progress) holds NAME.
    [[nodiscard]] bool held(const std::string& name) const { return pending_.contains(name); }
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
    friend class ContainerChange;
    ContainerChange hold(const std::string& name, ContainerSpec spec, PoolPair pair,
                         std::optional<std::uint32_t> creator);
    // ContainerChange's commit and rollback.
    void commitChange(const ContainerChange& change, ContainerSpec spec, EnvFile conf);
    void releaseChange(const ContainerChange& change);

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
    // What changes hold: their specs, for the clash checks, and a Create's
    // creator, for the per-user cap.
    std::map<std::string, ContainerSpec> pending_;
    std::map<std::string, std::uint32_t> creators_;
    // A change outliving the registry (work still queued at shutdown) has nothing to release.
    std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
};

}  // namespace nixos_containers
