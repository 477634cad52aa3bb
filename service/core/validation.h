#pragma once

#include "container_spec.h"
#include "settings.h"
#include "systemd_values.h"

#include <string>
#include <string_view>

namespace nixos_containers {

// Every check throws ContainerError(InvalidArgument) with a message that
// names the offending value, e.g. "name 'a/b' contains '/'".

// Names of new containers: [A-Za-z0-9-], neither starting nor ending with
// '-', at most 64 characters: what nixos-container accepts ([A-Za-z0-9_-])
// and systemd-nspawn takes as a machine name (hostname_is_valid: no '_', no
// label ending with '-'), also valid inside a unit name. The NixOS module
// refuses '_' too. Longer than 11 characters is fine: host interface names
// are derived (hostInterfaceName), not truncated.
inline constexpr std::size_t kMaxNameLength = 64;
void validateName(std::string_view name);
// Names of containers that exist already (NAME.conf on disk, a name a
// caller looks up): nixos-container's rule, '_' included, so that such a
// container can still be listed, stopped and destroyed. Start refuses a
// name that is not a machine name (isMachineName).
void validateExistingName(std::string_view name);
bool isMachineName(std::string_view name);

// Semantic checks of a whole spec (after decoding and merging):
//  - exactly one system source; SystemPath absolute and inside the store
//    (as /nix/store/X or settings.storeDir/X) with an `init`; ConfigFile absolute;
//  - addresses parse (IPv4 / IPv6, optional prefix within range), the network
//    keys require PrivateNetwork, HostBridge excludes HostAddress/HostAddress6,
//    and each one is an interface name;
//  - ports 1-65535, protocol tcp|udp, no duplicate (protocol, host port);
//  - bind mounts: absolute, no ':' nor whitespace, no "..", mount point not /;
//  - tmpfs: absolute path, options without whitespace;
//  - capabilities: CAP_[A-Z_]+ from the kernel's list;
//  - devices: absolute /dev path, modifier non-empty subset of "rwm";
//  - TimeoutStartSec: a systemd time span ("90", "90s", "1min 30s", "infinity");
//  - MemoryMax: empty, "infinity", or bytes with an optional K, M, G or T (1024-based);
//  - ExtraVeths / Interfaces / Macvlans: interface names (1-15 bytes, no '/', ':', whitespace),
//    and each macvlan's own name (macvlanName) too;
//  - ExtraFlags: each word starts with '-' and is `--opt` or `--opt=value` made of safe characters
//    (no whitespace, quotes, '$', '\\', '`', glob characters), and none of the options the
//    service sets itself (--directory/-D, --machine/-M, --keep-unit, --register,
//    --notify-ready, --kill-signal, --network-namespace-path, --image/-i, --boot/-b).
// Runs every validator the spec keys' rows (spec_keys.h) point at, once each.
void validateSpec(const ContainerSpec& spec, const Settings& settings);

// The validators the rows point at, one per group of keys checked together.
void validateSource(const ContainerSpec& spec, const Settings& settings);
void validateNetwork(const ContainerSpec& spec, const Settings& settings);
void validateMounts(const ContainerSpec& spec, const Settings& settings);
void validateCapabilities(const ContainerSpec& spec, const Settings& settings);
void validateDevices(const ContainerSpec& spec, const Settings& settings);
void validateTimeout(const ContainerSpec& spec, const Settings& settings);
void validateExtraFlags(const ContainerSpec& spec, const Settings& settings);
// The spec key an ExtraFlags word is judged as for host access (the key that
// gives the container the same of the host's: "AdditionalCapabilities" for
// --capability, "BindMounts" for --bind, --overlay, --load-credential,
// --bind-user), "ExtraFlags" for what no key gives, or empty for an option
// that keeps the container confined (--hostname, --setenv...).
std::string_view extraFlagHostKey(const std::string& word);
void validatePrivateUsers(const ContainerSpec& spec, const Settings& settings);
// Its value alone: no, identity, pick or a base uid.
void validatePrivateUsersValue(const std::string& value);

// The Linux interface name rule (kMaxInterfaceName bytes).
void validateInterfaceName(std::string_view what, std::string_view name);

}  // namespace nixos_containers
