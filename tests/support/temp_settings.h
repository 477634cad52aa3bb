#pragma once

#include "settings.h"

#include <filesystem>

namespace nixos_containers {

// Settings whose every directory lies under `top`, so nothing a test or a
// benchmark does can reach the host's real ones. Nothing is created.
inline Settings settingsUnder(const std::filesystem::path& top) {
    Settings settings;
    settings.configDir = top / "etc";
    settings.stateDir = top / "state";
    settings.runtimeDir = top / "run";
    settings.profilesDir = top / "profiles";
    settings.gcrootsDir = top / "gcroots";
    settings.storeDir = top / "store";
    settings.nixStateDir = top / "nix";
    settings.nixBinDir = top / "bin";
    settings.resolvConf = top / "resolv.conf";
    settings.declarativeUnitDirs = {top / "units"};
    return settings;
}

}  // namespace nixos_containers
