#pragma once

#include <iostream>
#include <string_view>

namespace nixos_containers {

// stderr goes to the journal when systemd runs the service; the <N> prefix
// is the syslog priority journald reads from it.
inline void logInfo(std::string_view message) {
    std::cerr << "<6>" << message << '\n';
}
inline void logWarning(std::string_view message) {
    std::cerr << "<4>" << message << '\n';
}
inline void logError(std::string_view message) {
    std::cerr << "<3>" << message << '\n';
}

}  // namespace nixos_containers
