#pragma once

#include <string>

namespace nixos_containers {

// PREFIX/LABEL with LABEL escaped by libsystemd's sd_bus_path_encode, the
// way systemd's own tools name units and machines: every byte outside
// [A-Za-z0-9], and a leading digit, becomes _xx. A client computes a
// container's object path from its name with that same call.
// Throws ContainerError (Failed) when libsystemd refuses.
std::string encodeObjectPath(const std::string& prefix, const std::string& label);

}  // namespace nixos_containers
