#include "bus_names.h"

#include "errors.h"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace nixos_containers {

std::string encodeObjectPath(const std::string& prefix, const std::string& label) {
    char* raw = nullptr;
    const int result = sd_bus_path_encode(prefix.c_str(), label.c_str(), &raw);
    const std::unique_ptr<char, decltype(&std::free)> path(raw, &std::free);
    if (result < 0) {
        throw ContainerError(ErrorCode::Failed, "cannot name the object of " + quoteValue(label) + " below " +
                                                    prefix + ": " + std::strerror(-result));
    }
    return path.get();
}

}  // namespace nixos_containers
