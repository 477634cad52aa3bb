#pragma once

#include "container_spec.h"
#include "settings.h"

namespace nixos_containers {

// NixFlags: the flags nixos-container passes through to Nix, parsed as Nix
// parses them (each flag's word count), so that no value is taken for a
// flag or a flag for a value. nix-env (Config, ConfigFile) takes only the
// flags common to every Nix command; a Flake's `nix build` takes them all.
void validateNixFlags(const ContainerSpec& spec, const Settings& settings);

}  // namespace nixos_containers
