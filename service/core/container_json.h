#pragma once

#include "container.h"

#include <nlohmann/json.hpp>

namespace nixos_containers {

// Inspect's answer: the spec under the same CamelCase keys as Create's
// a{sv}, plus the live fields. Without `withSecrets`, the secret keys and
// the last error are blank and named in "Redacted".
nlohmann::json toJson(const Container& container, bool withSecrets = true);

}  // namespace nixos_containers
