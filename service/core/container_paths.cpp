#include "container_paths.h"

#include "errors.h"

#include <system_error>

namespace nixos_containers {

namespace {
constexpr std::string_view kContainerStore = "/nix/store";

std::string withSuffix(std::string_view name, std::string_view suffix) {
    std::string file;
    file.reserve(name.size() + suffix.size());
    file.append(name).append(suffix);
    return file;
}

// True when lexically_normal() would leave `path` as it is and it has no
// trailing separator: absolute, and no empty, "." or ".." component.
bool isPlainAbsolute(std::string_view path) {
    if (path.size() < 2 || path.front() != '/' || path.back() == '/') {
        return false;
    }
    std::size_t start = 1;
    while (true) {
        auto slash = path.find('/', start);
        auto component = path.substr(start, slash == std::string_view::npos ? slash : slash - start);
        if (component.empty() || component == "." || component == "..") {
            return false;
        }
        if (slash == std::string_view::npos) {
            return true;
        }
        start = slash + 1;
    }
}

// Returns the part of `path` below `base`, or empty when it is not below.
std::string below(std::string_view path, std::string_view base) {
    if (isPlainAbsolute(path) && isPlainAbsolute(base)) {
        // Component by component is then character by character.
        if (path.size() > base.size() + 1 && path.starts_with(base) && path[base.size()] == '/') {
            return std::string(path.substr(base.size() + 1));
        }
        return {};
    }
    auto relative = std::filesystem::path(path).lexically_normal().lexically_relative(
        std::filesystem::path(base).lexically_normal());
    if (relative.empty() || *relative.begin() == ".." || relative == ".") {
        return {};
    }
    return relative.native();
}

// The path of the system below the store, as locateSystem maps it; throws
// InvalidArgument when it is not there.
std::string storeRelative(const Settings& settings, std::string_view systemPath) {
    if (systemPath.empty() || systemPath.front() != '/') {
        throwInvalid("SystemPath '" + std::string(systemPath) + "' is not absolute");
    }
    std::string inStore = below(systemPath, settings.storeDir.native());
    if (inStore.empty()) {
        inStore = below(systemPath, kContainerStore);
    }
    if (inStore.empty()) {
        // A profile link (e.g. /nix/var/nix/profiles/per-container/web/system):
        // what matters is where it points.
        std::error_code error;
        auto resolved = std::filesystem::canonical(systemPath, error);
        if (!error) {
            inStore = below(resolved.native(), settings.storeDir.native());
        }
    }
    if (inStore.empty()) {
        throwInvalid("SystemPath '" + std::string(systemPath) + "' is not inside the store '" +
                     settings.storeDir.string() + "'");
    }
    return inStore;
}
}  // namespace

std::string joinPath(std::string_view base, std::initializer_list<std::string_view> parts) {
    std::string path;
    std::size_t size = base.size();
    for (auto part : parts) {
        size += part.size() + 1;
    }
    path.reserve(size);
    path.append(base);
    for (auto part : parts) {
        if (!part.empty() && part.front() == '/') {
            path.assign(part);
            continue;
        }
        if (!path.empty() && path.back() != '/') {
            path += '/';
        }
        path.append(part);
    }
    return path;
}

ContainerPaths containerPaths(const Settings& settings, const std::string& name, bool ephemeral) {
    ContainerPaths paths;
    paths.confFile = confFilePath(settings, name);
    paths.configTextFile = joinPath(settings.configDir.native(), {withSuffix(name, ".nix")});
    paths.root = rootPath(settings, name, ephemeral);
    paths.profileDir = joinPath(settings.profilesDir.native(), {name});
    paths.systemLink = systemLinkPath(settings, name);
    paths.gcrootsDir = joinPath(settings.gcrootsDir.native(), {name});
    paths.netnsPin = netnsPinPath(settings, name);
    return paths;
}

std::string confFilePath(const Settings& settings, std::string_view name) {
    return joinPath(settings.configDir.native(), {withSuffix(name, ".conf")});
}

std::filesystem::path rootPath(const Settings& settings, std::string_view name, bool ephemeral) {
    return ephemeral ? joinPath(settings.runtimeDir.native(), {"roots", name})
                     : joinPath(settings.stateDir.native(), {name});
}

std::filesystem::path systemLinkPath(const Settings& settings, std::string_view name) {
    return joinPath(settings.profilesDir.native(), {name, "system"});
}

std::filesystem::path netnsPinDirectory(const Settings& settings) {
    return joinPath(settings.runtimeDir.native(), {"netns"});
}

std::filesystem::path netnsPinPath(const Settings& settings, std::string_view name) {
    return joinPath(netnsPinDirectory(settings).native(), {name});
}

SystemLocation locateSystem(const Settings& settings, std::string_view systemPath) {
    auto inStore = storeRelative(settings, systemPath);
    return {joinPath(settings.storeDir.native(), {inStore}), joinPath(kContainerStore, {inStore})};
}

std::filesystem::path systemOnHost(const Settings& settings, std::string_view systemPath) {
    return joinPath(settings.storeDir.native(), {storeRelative(settings, systemPath)});
}

}  // namespace nixos_containers
