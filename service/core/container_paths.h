#pragma once

#include "settings.h"

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

namespace nixos_containers {

// Where one container's files live, following current NixOS.
struct ContainerPaths {
    std::filesystem::path confFile;        // configDir/NAME.conf
    std::filesystem::path configTextFile;  // configDir/NAME.nix (Config text)
    std::filesystem::path root;            // stateDir/NAME, or runtimeDir/roots/NAME when ephemeral
    std::filesystem::path profileDir;      // profilesDir/NAME
    std::filesystem::path systemLink;      // profilesDir/NAME/system
    std::filesystem::path gcrootsDir;      // gcrootsDir/NAME
    std::filesystem::path netnsPin;        // runtimeDir/netns/NAME
};

ContainerPaths containerPaths(const Settings& settings, const std::string& name, bool ephemeral);

// `base / part / ...` as std::filesystem::path's operator/ makes it on POSIX
// (an absolute part replaces; a separator goes in unless the path so far is
// empty or ends in one), built as one string instead of re-parsing `base`.
std::string joinPath(std::string_view base, std::initializer_list<std::string_view> parts);

// Single members of containerPaths, for callers that need one or two: each
// is built by concatenation, without re-parsing the settings' directories.
std::string confFilePath(const Settings& settings, std::string_view name);
std::filesystem::path rootPath(const Settings& settings, std::string_view name, bool ephemeral);
std::filesystem::path systemLinkPath(const Settings& settings, std::string_view name);
std::filesystem::path netnsPinDirectory(const Settings& settings);
std::filesystem::path netnsPinPath(const Settings& settings, std::string_view name);

// Maps a SystemPath as the caller gave it (/nix/store/X, storeDir/X, or a
// profile link resolving into the store) to the host path and to the path the
// container sees under /nix/store. Throws InvalidArgument when outside the store.
struct SystemLocation {
    std::filesystem::path onHost;
    std::filesystem::path inContainer;
};
SystemLocation locateSystem(const Settings& settings, std::string_view systemPath);
// locateSystem(...).onHost alone.
std::filesystem::path systemOnHost(const Settings& settings, std::string_view systemPath);

}  // namespace nixos_containers
