#include "bind_pins.h"

#include "container_paths.h"

#include <sys/stat.h>

#include <algorithm>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

// `path` below `root`, lexically; none when it is not below it.
std::optional<fs::path> lexicallyBelow(const fs::path& path, const fs::path& root) {
    auto relative = path.lexically_normal().lexically_relative(root.lexically_normal());
    if (relative.empty() || *relative.begin() == "..") {
        return std::nullopt;
    }
    return relative;
}

}  // namespace

std::optional<fs::path> confinedRootOf(const fs::path& hostPath, const Settings& settings) {
    for (const auto& root : settings.confinedBindRoots) {
        if (lexicallyBelow(hostPath, root)) {
            return root;
        }
        std::error_code error;
        auto resolved = fs::canonical(root, error);
        if (!error && lexicallyBelow(hostPath, resolved)) {
            return resolved;
        }
    }
    return std::nullopt;
}

bool isConfinedBind(const BindMount& bind, const Settings& settings) {
    if (!bind.readOnly) {
        return false;
    }
    const fs::path host = bind.effectiveHostPath();
    auto root = confinedRootOf(host, settings);
    if (!root) {
        return false;
    }
    // Down from the root, component by component: a link anywhere there
    // (even one that points back inside) makes the bind host access.
    auto walked = *root;
    const auto below = *lexicallyBelow(host, *root);
    for (const auto& part : below) {
        if (part == ".") {
            continue;
        }
        walked /= part;
        struct stat status {};
        if (::lstat(walked.c_str(), &status) != 0) {
            return true;  // not there yet: nothing to follow (Start checks again)
        }
        if (S_ISLNK(status.st_mode)) {
            return false;
        }
    }
    return true;
}

fs::path bindPinDirectory(const Settings& settings, const std::string& container) {
    return joinPath(settings.runtimeDir.native(), {"binds", container});
}

std::vector<BindPin> planBindPins(const Settings& settings, const std::string& container,
                                  const ContainerSpec& spec, std::uint32_t owner) {
    std::vector<BindPin> pins;
    if (owner == 0) {
        return pins;
    }
    const auto directory = bindPinDirectory(settings, container);
    for (std::size_t index = 0; index < spec.bindMounts.size(); ++index) {
        const auto& bind = spec.bindMounts[index];
        const fs::path host = bind.effectiveHostPath();
        auto root = bind.readOnly ? confinedRootOf(host, settings) : std::nullopt;
        if (!root) {
            continue;  // writable or elsewhere: host access, granted as such
        }
        pins.push_back(
            BindPin{index, host, *root, *lexicallyBelow(host, *root), directory / std::to_string(index)});
    }
    return pins;
}

}  // namespace nixos_containers
