#pragma once

#include "container.h"

#include <nlohmann/json.hpp>

namespace nixos_containers {

// Inspect's answer: the spec under the same CamelCase keys as Create's
// a{sv}, plus the live fields. Without `withSecrets`, the secret keys and
// the last error are blank and named in "Redacted".
nlohmann::json toJson(const Container& container, bool withSecrets = true);

// A spec from the same keys and values, as the declarative set gives them;
// a key left out keeps its default. Throws ContainerError(InvalidArgument)
// naming the key: "key 'ForwardPorts': HostPort must be a port number...".
// Checks kinds only: validateSpec checks the values.
ContainerSpec specFromJson(const nlohmann::json& object);
// The spec keys alone, as stored (no defaults made explicit).
nlohmann::json specToJson(const ContainerSpec& spec);

}  // namespace nixos_containers
