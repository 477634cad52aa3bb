#pragma once

#include "container.h"

#include <nlohmann/json.hpp>

namespace nixos_containers {

// Inspect's answer: the spec under the same CamelCase keys as Create's
// a{sv}, plus the live fields.
nlohmann::json toJson(const Container& container);

}  // namespace nixos_containers
