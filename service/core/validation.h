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
