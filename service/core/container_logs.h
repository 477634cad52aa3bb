#pragma once

#include "authorization_gate.h"
#include "container_registry.h"
#include "outcome.h"
#include "unique_fd.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace nixos_containers {

// What OpenLogs streams: the journal of a container's unit, that is what
// nspawn, the container's console and systemd said about it.
struct LogRequest {
    std::string unit;
    std::uint32_t caller = 0;  // counted against the per-caller cap
    std::uint32_t lines = 0;   // the last `lines` entries first
    bool follow = false;       // then new entries until the reader closes its end
    // Entries older than this are another container's: one of the same name
    // that was destroyed, maybe another owner's.
    std::uint64_t sinceUsec = 0;
};

// The journal, read off the loop: each stream writes its entries as text
// lines (formatLogLine) to a socket whose other end goes to the caller.
class JournalReader {
public:
    virtual ~JournalReader() = default;
    // The caller's end, already being written. Throws ContainerError:
    // LimitsExceeded past the caps on open streams, Failed.
    virtual UniqueFd open(const LogRequest& request) = 0;
};

// The most lines OpenLogs sends before following; more is InvalidArgument.
inline constexpr std::uint32_t kMaxLogLines = 100000;
// A message longer than this is cut, and says so.
inline constexpr std::size_t kMaxLogMessage = 16384;

// One entry as a line: "2026-12-06T13:44:39.123456Z IDENTIFIER[PID]: MESSAGE\n".
// The message is the container's, so hostile: control characters (but tab)
// and invalid UTF-8 become \xNN, and a long one is cut.
std::string formatLogLine(std::uint64_t realtimeUsec, std::string_view identifier, std::string_view pid,
                          std::string_view message);

// OpenLogs: authorised as org.nixos.containers.logs with the container and
// verb "logs" (polkit's rules for owners grant it with the container's
// other actions); the container may be in any state, since a failed start's
// last lines are what its owner needs most. Only this container's entries:
// the unit's name outlives a destroyed container of the same name, so the
// stream starts at the container's first generation (its Create).
class ContainerLogs {
public:
    ContainerLogs(ContainerRegistry& registry, AuthorizationGate& gate, JournalReader& journal)
        : registry_(registry), gate_(gate), journal_(journal) {}

    // `done` gets the reading end, or NoSuchContainer, InvalidArgument,
    // AccessDenied, InteractiveAuthorizationRequired, LimitsExceeded, Failed.
    void open(const Caller& caller, const std::string& name, std::uint32_t lines, bool follow,
              Callback<std::shared_ptr<UniqueFd>> done);

private:
    ContainerRegistry& registry_;
    AuthorizationGate& gate_;
    JournalReader& journal_;
};

}  // namespace nixos_containers
