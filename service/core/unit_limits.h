#pragma once

#include "container_spec.h"
#include "settings.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers {

// The cgroup limits of a container's unit: spec keys named as systemd names
// the settings (MemoryMax=, CPUWeight=...), each a string in a subset of
// systemd's syntax. They go into the transient unit's properties at start,
// and an Update of a running container sets them on its unit with
// SetUnitProperties: no restart, no reload. The module needs a drop-in and
// a restart for the same.
struct UnitLimitKey {
    std::string_view key;  // the spec key, and the unit-file setting
    std::string ContainerSpec::*field;
    std::string_view property;  // the D-Bus property (CPUQuota= is CPUQuotaPerSecUSec)
    // The property's value for a non-empty field; ContainerError(InvalidArgument)
    // naming the key when the text is not one.
    std::uint64_t (*value)(std::string_view text);
    // The value that means "systemd's default" when the key is cleared on a
    // running unit; none when systemd cannot take one (TasksMax's default is
    // the manager's DefaultTasksMax): clearing such a key then restarts.
    std::optional<std::uint64_t> unset;
    std::string_view syntax;  // for the documentation of the key and its error
};
std::span<const UnitLimitKey> unitLimitKeys();

struct UnitProperty {
    std::string name;
    std::uint64_t value = 0;
    bool operator==(const UnitProperty&) const = default;
};

// The limits a spec sets, as unit properties, in the table's order.
std::vector<UnitProperty> unitLimits(const ContainerSpec& spec);
// What a running unit needs to go from `before`'s limits to `after`'s; a
// cleared key gives its `unset` value.
std::vector<UnitProperty> changedUnitLimits(const ContainerSpec& before, const ContainerSpec& after);
// True when a limit was cleared that systemd cannot reset on a running unit.
bool clearingNeedsRestart(const ContainerSpec& before, const ContainerSpec& after);

// A container a user other than root creates gets the admin's tenant
// limits (Settings::tenantLimits) for every key its spec leaves empty.
void applyTenantLimits(ContainerSpec& spec, const Settings& settings);
// Whether `key`'s value in `spec` is above the admin's tenant limit for it
// (none, or "infinity", is above any): such a value asks for host access.
bool aboveTenantLimit(const UnitLimitKey& key, const ContainerSpec& spec, const Settings& settings);
// The row of the limit held in `field`; null for any other field.
const UnitLimitKey* unitLimitKeyOf(std::string ContainerSpec::*field);

// Every limit's syntax; the spec keys' validator for these keys.
void validateUnitLimits(const ContainerSpec& spec, const Settings& settings);

}  // namespace nixos_containers
