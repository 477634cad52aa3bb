#pragma once

#include "container_spec.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace nixos_containers {

// NAME.conf in the module's env-file format, readable by the module's
// container@ template (systemd EnvironmentFile= and bash word splitting):
//
//   SYSTEM_PATH=/nix/store/...-nixos-system-web
//   PRIVATE_NETWORK=1
//   HOST_BRIDGE=br0
//   HOST_PORT=tcp:8080:80,udp:53:53
//   HOST_ADDRESS=10.233.1.1
//   HOST_ADDRESS6=fc00::1
//   LOCAL_ADDRESS=10.233.1.2
//   LOCAL_ADDRESS6=fc00::2
//   INTERFACES="eth1 eth2"
//   MACVLANS="eth3"
//   AUTO_START=1
//   EXTRA_NSPAWN_FLAGS="--bind-ro=/host:/mnt --bind=/data --drop-capability=CAP_SYS_CHROOT"
//
// Keys the module does not know, in the same style:
//   CONFIG_FILE=/path/module.nix          FLAKE=github:x/y#web
//   CONFIG_TEXT_FILE=/etc/nixos-containers/NAME.nix   (module text, Config)
//   EPHEMERAL=1   ENABLE_TUN=1   TIMEOUT_START_SEC=1min
//   ADDITIONAL_CAPABILITIES="CAP_NET_ADMIN CAP_MKNOD"
//   TMPFS="/var /tmp:mode=1777"
//   ALLOWED_DEVICES="/dev/net/tun:rw /dev/fuse:rwm"
//   EXTRA_VETHS="ve-a,hostAddr,localAddr,hostAddr6,localAddr6,bridge ve-b,,,,,br1"
//
// The module writes the network keys only when PRIVATE_NETWORK=1; so do we.
// Bind mounts live in EXTRA_NSPAWN_FLAGS as the module puts them; on reading,
// --bind= and --bind-ro= words become BindMounts and the rest ExtraFlags.
// Keys nobody knows are kept, in order, and written back unchanged.
class EnvFile {
public:
    // Parses `KEY=value`, `KEY="value"`, `KEY='value'`, blank lines and
    // `#` comments. Throws ContainerError(InvalidArgument) naming the line.
    static EnvFile parse(std::string_view text);
    [[nodiscard]] std::string serialize() const;

    [[nodiscard]] const std::string* find(std::string_view key) const;
    void set(const std::string& key, const std::string& value);
    void erase(std::string_view key);
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

private:
    std::vector<std::pair<std::string, std::string>> entries_;
};

// A conf bigger than this is no conf (the module's are a few hundred bytes,
// ours at most a few kilobytes): it is refused before it is read whole, and
// so is one of more lines than kMaxConfLines, before they become keys.
inline constexpr std::size_t kMaxConfBytes = std::size_t{1} << 20;
inline constexpr std::size_t kMaxConfLines = 4096;
// What makes `text` no conf anybody wrote whole: empty, a NUL byte, more
// than kMaxConfLines lines, or a last line without its newline (a write
// cut short). Empty when it is none of these.
std::string confTextProblem(std::string_view text);

// Who created the container: not a spec key (no caller sets it), but kept
// in the conf beside them, where root alone can change it.
inline constexpr std::string_view kOwnerConfKey = "OWNER_UID";
// The recorded owner; 0 when none (or not a uid).
std::uint32_t ownerFromConf(const EnvFile& conf);
// A container of the declarative set (ApplyDeclarative), not of a caller:
// kept in the conf the service writes, as the owner is.
inline constexpr std::string_view kDeclarativeConfKey = "DECLARATIVE";
[[nodiscard]] bool declaredInConf(const EnvFile& conf);

// Spec <-> conf. `configTextFile` is where Config text lives (NAME.nix).
// specFromConf leaves `config` empty; the store reads the text file.
ContainerSpec specFromConf(const EnvFile& conf);
// Writes every key the spec sets onto `base` (a previous conf, so unknown
// keys survive) and removes the keys it does not set.
EnvFile confFromSpec(const ContainerSpec& spec, EnvFile base, const std::filesystem::path& configTextFile);

}  // namespace nixos_containers
