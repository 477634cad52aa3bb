#pragma once

#include <cstdint>
#include <string_view>

namespace nixos_containers {

// Values in systemd's own syntax, as unit files take them. Each throws
// ContainerError(InvalidArgument) saying what is wrong.

// A time span (systemd.time(7)) in microseconds; "infinity" gives UINT64_MAX.
std::uint64_t parseTimespanUsec(std::string_view text);

// A size as MemoryMax= takes it: bytes with an optional K, M, G or T
// (1024-based), or "infinity" (UINT64_MAX).
std::uint64_t parseMemoryBytes(std::string_view text);

}  // namespace nixos_containers
