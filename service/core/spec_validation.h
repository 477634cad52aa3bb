#pragma once

#include "container_spec.h"
#include "settings.h"

namespace nixos_containers {

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
// Every string and list within its key's size limits first, then every
// validator the spec keys' rows (spec_keys.h) point at, once each; whatever
// a check throws leaves as a ContainerError (InvalidArgument, LimitsExceeded).
void validateSpec(const ContainerSpec& spec, const Settings& settings);

}  // namespace nixos_containers
