#pragma once

#include "conf_file.h"
#include "container_spec.h"

#include <memory>
#include <string>

namespace nixos_containers {

class ContainerRegistry;

// A Create's or Update's hold on the registry (ContainerRegistry::beginCreate,
// beginChange), from its checks until it is saved or fails: the name (a second
// change of it is refused) and the host ports and addresses its new spec
// uses (no other Create or Update can take them meanwhile). commit() makes
// the saved spec the container's and tells the observer once; a change
// rolled back, or dropped, uncommitted lets all it held go. Move-only: one
// owner, one outcome.
class ContainerChange {
public:
    ContainerChange() = default;
    ContainerChange(ContainerChange&& other) noexcept;
    ContainerChange& operator=(ContainerChange&& other) noexcept;
    ContainerChange(const ContainerChange&) = delete;
    ContainerChange& operator=(const ContainerChange&) = delete;
    ~ContainerChange() { rollback(); }

    [[nodiscard]] const std::string& name() const { return name_; }
    // The spec as held: with the pool's pair when it was given one.
    [[nodiscard]] const ContainerSpec& spec() const { return spec_; }
    // Neither committed nor rolled back yet.
    [[nodiscard]] bool held() const { return registry_ != nullptr; }

    // `conf`: what the store wrote for `spec` (ContainerStore::save). A
    // Create's container appears (containerAdded); an existing one gets the
    // spec and conf, is derived again, and one containerChanged names what
    // changed. `spec` normally is spec(); a Rollback's differs in its system.
    void commit(ContainerSpec spec, EnvFile conf);
    void commit(EnvFile conf) { commit(spec_, std::move(conf)); }
    // Releases the name, ports and addresses; nothing once committed.
    void rollback();

private:
    friend class ContainerRegistry;
    ContainerChange(ContainerRegistry& registry, std::weak_ptr<const void> registryAlive, std::string name,
                    ContainerSpec spec, bool creating)
        : registry_(&registry),
          registryAlive_(std::move(registryAlive)),
          name_(std::move(name)),
          spec_(std::move(spec)),
          creating_(creating) {}
    // The registry, unless it has gone (a service shutting down with work in flight).
    [[nodiscard]] ContainerRegistry* registry() const;

    ContainerRegistry* registry_ = nullptr;  // null once committed or rolled back
    std::weak_ptr<const void> registryAlive_;
    std::string name_;
    ContainerSpec spec_;
    bool creating_ = false;
};

}  // namespace nixos_containers
