#pragma once

// What a confined container's read-only binds mount: exactly what was
// judged, at the time nspawn mounts it. nspawn resolves a bind's host path
// itself when it starts, following links; a tenant who can write beneath a
// confined bind root could replace a checked directory with a link to / (or
// to another tenant's root) between Create and Start. So the service opens
// each such bind itself at Start, beneath its confined root, following no
// link there, mounts what it opened on a directory only it can reach
// (RUNTIME/binds/NAME/INDEX), and hands nspawn that mount.

#include "container_spec.h"
#include "settings.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace nixos_containers {

struct BindPin {
    std::size_t index = 0;               // in spec.bindMounts
    std::filesystem::path hostPath;      // as the spec names it, for messages
    std::filesystem::path confinedRoot;  // the admin's root, its own links followed
    std::filesystem::path beneath;       // below confinedRoot: no link followed
    std::filesystem::path pin;           // what nspawn binds: bindPinDirectory/INDEX
};

// The confined root a path lies beneath, lexically (".." resolved, no link
// followed), as configured or as it resolves; none when it is beneath none.
std::optional<std::filesystem::path> confinedRootOf(const std::filesystem::path& hostPath,
                                                    const Settings& settings);

// Whether a bind keeps its container confined: read-only, beneath a
// confined root, and no link on its way down from that root (checked now,
// and again, without following any, when the container starts).
bool isConfinedBind(const BindMount& bind, const Settings& settings);

// RUNTIME/binds/NAME: the container's pins.
std::filesystem::path bindPinDirectory(const Settings& settings, const std::string& container);

// The binds of a container that `owner` owns that are pinned at Start: every
// read-only bind beneath a confined root of a container root does not own
// (root's containers keep nspawn's own resolution, as the module does).
std::vector<BindPin> planBindPins(const Settings& settings, const std::string& container,
                                  const ContainerSpec& spec, std::uint32_t owner);

// Mounts and removes the pins (the real one: service/adapters/bind_pin_mounts).
class BindPinner {
public:
    virtual ~BindPinner() = default;
    // Mounts each pin read-only at its path below `directory`, after
    // removing what a crashed run left there. Throws ContainerError
    // (StartFailed) naming the bind, with none of them left mounted.
    virtual void pin(const std::filesystem::path& directory, const std::vector<BindPin>& pins) = 0;
    // Unmounts and removes everything below `directory`, and it; idempotent.
    virtual void unpin(const std::filesystem::path& directory) = 0;
};

}  // namespace nixos_containers
