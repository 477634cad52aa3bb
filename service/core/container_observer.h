#pragma once

#include "container.h"
#include "container_fields.h"

#include <string>

namespace nixos_containers {

// What the D-Bus layer hears from the core: it publishes objects and emits
// PropertiesChanged, ObjectManager and build-output signals from these.
class ContainerObserver {
public:
    virtual ~ContainerObserver() = default;
    virtual void containerAdded(const Container& container) = 0;
    virtual void containerRemoved(const std::string& name) = 0;
    // `fields` may be empty: the operation or the last error changed.
    virtual void containerChanged(const Container& container, ContainerFields fields) = 0;
    // A line of NAME's build, for `recipient` alone (the bus name of the
    // caller whose Create or Update builds it): build output can hold secrets.
    virtual void buildOutput(const std::string& name, const std::string& line,
                             const std::string& recipient) = 0;
};

}  // namespace nixos_containers
