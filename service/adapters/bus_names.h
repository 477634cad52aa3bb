#pragma once

#include <string>
#include <string_view>

namespace nixos_containers {

// systemd's bus_label_escape: every byte outside [A-Za-z0-9] becomes _xx, so
// any container or unit name makes one valid object path element.
std::string busLabelEscape(std::string_view label);
std::string busLabelUnescape(std::string_view label);

}  // namespace nixos_containers
