#pragma once

#include "container_spec.h"
#include "spec_patch.h"

#include <sdbus-c++/Types.h>

#include <map>
#include <string>

namespace nixos_containers {

// Applies Create's / Update's a{sv} entries onto `spec`. Checks only keys
// and types; validateSpec checks the values. Throws
// ContainerError(InvalidArgument): "unknown key 'Foo'", "key 'PrivateNetwork'
// must have type 'b', not 's'".
SpecPatch decodeSpecPatch(const std::map<std::string, sdbus::Variant>& entries);
// decodeSpecPatch(entries) applied to `spec` at once.
void applySpecEntries(ContainerSpec& spec, const std::map<std::string, sdbus::Variant>& entries);

}  // namespace nixos_containers
