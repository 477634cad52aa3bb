#include "container_change.h"

#include "container_registry.h"
#include "errors.h"
#include "network_plan.h"

#include <utility>

namespace nixos_containers {

namespace {

bool wantsPoolPair(const ContainerSpec& spec) {
    return spec.privateNetwork && !spec.network.hasAddress() && spec.network.hostBridge.empty();
}

// What of a container a commit may change besides its spec and its
// generations (derived again from the profile each time).
struct Derived {
    explicit Derived(const Container& container)
        : hostInterface(container.hostInterface), root(container.root), addresses(container.addresses) {}
    std::string hostInterface;
    std::filesystem::path root;
    std::vector<std::string> addresses;
};

ContainerFields changedFields(const Derived& before, const Container& after) {
    ContainerFields fields = {ContainerField::Spec, ContainerField::Generations};
    if (before.hostInterface != after.hostInterface) {
        fields.add(ContainerField::HostInterface);
    }
    if (before.root != after.root) {
        fields.add(ContainerField::RootDirectory);
    }
    if (before.addresses != after.addresses) {
        fields.add(ContainerField::Addresses);
    }
    return fields;
}

}  // namespace

// ---------------------------------------------------------------- the registry's side

ContainerChange ContainerRegistry::beginCreate(const std::string& name, ContainerSpec spec,
                                               std::uint32_t creator) {
    if (containers_.contains(name) || held(name)) {
        throw ContainerError(ErrorCode::AlreadyExists, "container '" + name + "' already exists");
    }
    return hold(name, std::move(spec), PoolPair::GiveIfNone, creator);
}

ContainerChange ContainerRegistry::beginChange(const std::string& name, ContainerSpec spec, PoolPair pair) {
    (void)get(name);  // NoSuchContainer
    if (held(name)) {
        throw ContainerError(ErrorCode::Busy, "container '" + name + "' is being changed");
    }
    return hold(name, std::move(spec), pair, std::nullopt);
}

ContainerChange ContainerRegistry::hold(const std::string& name, ContainerSpec spec, PoolPair pair,
                                        std::optional<std::uint32_t> creator) {
    if (pair == PoolPair::GiveIfNone && wantsPoolPair(spec)) {
        spec.network = addresses_.allocate();  // held in the pool from now on
    } else {
        addresses_.noteUsed(spec);
    }
    pending_[name] = spec;
    if (creator) {
        creators_[name] = *creator;
    }
    return {*this, alive_, name, std::move(spec), creator.has_value()};
}

void ContainerRegistry::releaseChange(const ContainerChange& change) {
    pending_.erase(change.name_);
    creators_.erase(change.name_);
    addresses_.forget(change.spec_);
}

void ContainerRegistry::commitChange(const ContainerChange& change, ContainerSpec spec, EnvFile conf) {
    // From here the container's spec holds what the change held.
    releaseChange(change);
    if (change.creating_) {
        Container container;
        container.name = change.name_;
        container.spec = std::move(spec);
        container.declarative = declaredInConf(conf);
        container.conf = std::move(conf);
        publish(std::move(container));
        return;
    }
    auto found = containers_.find(change.name_);
    if (found == containers_.end()) {
        return;  // forgotten meanwhile: the change has nothing left to change
    }
    auto& container = found->second;
    const Derived before(container);
    addresses_.forget(container.spec);
    addresses_.noteUsed(spec);
    container.spec = std::move(spec);
    container.conf = std::move(conf);
    derive(container);
    if (container.state != ContainerState::Running) {
        container.addresses = plannedContainerAddresses(container.spec);
    }
    observer_.containerChanged(container, changedFields(before, container));
}

// ---------------------------------------------------------------- the handle

ContainerChange::ContainerChange(ContainerChange&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      registryAlive_(std::move(other.registryAlive_)),
      name_(std::move(other.name_)),
      spec_(std::move(other.spec_)),
      creating_(other.creating_) {}

ContainerChange& ContainerChange::operator=(ContainerChange&& other) noexcept {
    if (this != &other) {
        rollback();
        registry_ = std::exchange(other.registry_, nullptr);
        registryAlive_ = std::move(other.registryAlive_);
        name_ = std::move(other.name_);
        spec_ = std::move(other.spec_);
        creating_ = other.creating_;
    }
    return *this;
}

ContainerRegistry* ContainerChange::registry() const {
    return registryAlive_.expired() ? nullptr : registry_;
}

void ContainerChange::commit(ContainerSpec spec, EnvFile conf) {
    auto* owner = registry();
    registry_ = nullptr;
    if (owner != nullptr) {
        owner->commitChange(*this, std::move(spec), std::move(conf));
    }
}

void ContainerChange::rollback() {
    auto* owner = registry();
    registry_ = nullptr;
    if (owner != nullptr) {
        owner->releaseChange(*this);
    }
}

}  // namespace nixos_containers
