#include "container_paths.h"

#include "errors.h"

#include <system_error>

namespace nixos_containers {

namespace {
const std::filesystem::path kContainerStore = "/nix/store";

// Returns the part of `path` below `base`, or empty when it is not below.
std::filesystem::path below(const std::filesystem::path& path, const std::filesystem::path& base) {
    auto relative = path.lexically_normal().lexically_relative(base.lexically_normal());
    if (relative.empty() || *relative.begin() == ".." || relative == ".") {
        return {};
    }
    return relative;
}
}  // namespace

ContainerPaths containerPaths(const Settings& settings, const std::string& name, bool ephemeral) {
    ContainerPaths paths;
    paths.confFile = settings.configDir / (name + ".conf");
    paths.configTextFile = settings.configDir / (name + ".nix");
    paths.root = ephemeral ? settings.runtimeDir / "roots" / name : settings.stateDir / name;
    paths.profileDir = settings.profilesDir / name;
    paths.systemLink = paths.profileDir / "system";
    paths.gcrootsDir = settings.gcrootsDir / name;
    paths.netnsPin = settings.runtimeDir / "netns" / name;
    return paths;
}

SystemLocation locateSystem(const Settings& settings, const std::filesystem::path& systemPath) {
    if (!systemPath.is_absolute()) {
        throwInvalid("SystemPath '" + systemPath.string() + "' is not absolute");
    }
    std::filesystem::path inStore = below(systemPath, settings.storeDir);
    if (inStore.empty()) {
        inStore = below(systemPath, kContainerStore);
    }
    if (inStore.empty()) {
        // A profile link (e.g. /nix/var/nix/profiles/per-container/web/system):
        // what matters is where it points.
        std::error_code error;
        auto resolved = std::filesystem::canonical(systemPath, error);
        if (!error) {
            inStore = below(resolved, settings.storeDir);
        }
    }
    if (inStore.empty()) {
        throwInvalid("SystemPath '" + systemPath.string() + "' is not inside the store '" +
                     settings.storeDir.string() + "'");
    }
    return {settings.storeDir / inStore, kContainerStore / inStore};
}

}  // namespace nixos_containers
