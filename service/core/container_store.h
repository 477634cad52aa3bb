#pragma once

#include "conf_file.h"
#include "container.h"
#include "container_paths.h"
#include "container_spec.h"
#include "settings.h"

#include <filesystem>
#include <string>
#include <vector>

namespace nixos_containers {

// The containers on disk: NAME.conf files in the config directory, plus each
// container's root, profile and gcroots. Failures throw
// ContainerError(IOError) naming the path and the system error.
class ContainerStore {
public:
    explicit ContainerStore(Settings settings);

    struct Entry {
        std::string name;
        ContainerSpec spec;
        EnvFile conf;  // as read, so keys nobody knows are written back
        // NixOS declares it: nixpkgs' module (templateUnit) or the declarative
        // set (the conf's DECLARATIVE=1).
        bool declarative = false;
        bool templateUnit = false;
        // Why the conf could not be read (then spec and conf are empty).
        std::string broken;
    };

    // The host trees a container's root user can plant files in (roots,
    // ephemeral roots, profiles, gcroots) are 0700, as nixos-container makes
    // them, so no host user reaches a setuid file planted there. Created
    // when missing, corrected when not; returns what it corrected.
    std::vector<std::string> secureTrees() const;

    // Every NAME.conf with a valid name. A file that cannot be read or
    // parsed (or is larger than kMaxConfBytes, which is not read) is an
    // entry with `broken` saying why, also reported in `problems`, and left
    // alone: never deleted. Temporaries of
    // an atomic write the service did not finish (killed) are removed.
    std::vector<Entry> loadAll(std::vector<std::string>& problems) const;
    // Throws IOError (unreadable) or InvalidArgument (not a conf).
    Entry load(const std::string& name) const;
    [[nodiscard]] bool exists(const std::string& name) const;
    // The names with a network namespace pinned under runtimeDir/netns:
    // what recovery compares with the confs to find a destroyed container's
    // network that a killed service did not get to release.
    [[nodiscard]] std::vector<std::string> pinnedNetworks() const;

    // Whether nixpkgs' own module runs the container: a container@NAME.service
    // unit file exists in one of the declarative unit directories, or its conf
    // is a link into the Nix store (environment.etc). Whether the conf can be
    // written says nothing: a chmod or a read-only mount does not make it so.
    [[nodiscard]] bool runsByModuleTemplate(const std::string& name) const;

    // Writes NAME.conf atomically (temporary file, fsync, rename, fsync of the
    // directory), keeping `base`'s unknown keys. Writes NAME.nix first when
    // the spec has Config text. Returns the conf it wrote, for the registry
    // (ContainerChange::commit).
    EnvFile save(const std::string& name, const ContainerSpec& spec, const EnvFile& base) const;
    // Writes NAME.nix (the module around Config text) alone, for the builder.
    void saveConfigText(const std::string& name, const std::string& text) const;
    // Removes NAME.conf and NAME.nix.
    void removeConf(const std::string& name) const;

    // The module's pre-start skeleton: etc, var/lib, var/lib/private, root,
    // empty os-release and machine-id, resolv.conf copied, profile and gcroots
    // directories; plus an empty usr, without which Debian's nspawn refuses a
    // root that has no OS tree.
    void prepareRoot(const ContainerPaths& paths, bool copyResolvConf = true) const;
    // Points the container's profile at a system as `nix-env -p P --set S`
    // does: a new generation P-N-link, then P switched to it (nothing new
    // when P's current generation is S already). A P that links to a system
    // directly (made before generations) becomes generation 1 first.
    void linkSystem(const ContainerPaths& paths, const std::filesystem::path& systemOnHost) const;
    // The profile's generations, oldest first; none without a profile.
    [[nodiscard]] std::vector<Generation> generations(const ContainerPaths& paths) const;
    // `nix-env -p P --rollback`: P switched to the newest generation older
    // than the current one, which is returned. InvalidArgument when there is
    // none.
    Generation rollBack(const ContainerPaths& paths, const std::string& name) const;
    // `nix-env -p P --switch-generation NUMBER`: P switched to that
    // generation, which is returned. InvalidArgument (naming the ones there
    // are) when there is no such generation, or when it is the current one.
    Generation switchGeneration(const ContainerPaths& paths, const std::string& name,
                                std::uint32_t number) const;
    // Removes root, profile and gcroots; missing parts are fine. Refuses
    // (IOError) a root with anything mounted below it: remove_all would
    // descend into the mount and delete what is not the container's.
    void removeData(const ContainerPaths& paths) const;
    // Removes profile and gcroots only.
    void removeProfile(const ContainerPaths& paths) const;

    [[nodiscard]] const Settings& settings() const { return settings_; }

private:
    Settings settings_;
};

// Throws InvalidArgument unless `number` is one of `generations` (the
// message names those there are) and not the current one: SwitchGeneration's
// check, before its authorisation and again when it switches.
void checkGenerationSwitch(const std::vector<Generation>& generations, const std::string& name,
                           std::uint32_t number);

}  // namespace nixos_containers
