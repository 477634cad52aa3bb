#pragma once

#include <string>
#include <string_view>

namespace nixos_containers {

// D-Bus strings must be valid UTF-8 (sd-bus refuses others), but build
// output, files on disk and child processes owe us nothing: every byte
// sequence that is not valid UTF-8 becomes U+FFFD.
std::string sanitizeUtf8(std::string_view text);

}  // namespace nixos_containers
