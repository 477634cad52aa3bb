#pragma once

#include "container_spec.h"
#include "unit_limits.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nixos_containers {

// A transient service as StartTransientUnit takes it, in core terms; the
// systemd adapter turns it into the a(sv) property array.
struct TransientUnit {
    std::string name;
    std::string description;
    std::string slice = "machine.slice";
    std::string type = "notify";
    // nspawn sends READY=1 itself, on behalf of the container's PID 1.
    std::string notifyAccess = "all";
    bool delegate = true;
    std::string killMode = "mixed";
    int killSignal = 15;  // SIGTERM: nspawn turns it into SIGRTMIN+3 for the init
    std::vector<std::int32_t> successExitStatus = {133};
    std::vector<std::int32_t> restartForceExitStatus = {133};
    // The module says on-failure. A container whose init fails at start would
    // then loop until the start limit, and Start could not report it; a
    // reboot from inside (exit 133) still restarts through RestartForceExitStatus.
    std::string restart = "no";
    std::uint64_t timeoutStartUsec = 60'000'000;
    // A container not ready within TimeoutStartSec is killed, not halted:
    // with systemd's default (terminate) a payload that ignores the halt
    // holds the failed start for TimeoutStopSec (90 s) more, and Start's
    // caller waits that long for its answer.
    std::string timeoutStartFailureMode = "kill";
    std::vector<UnitProperty> limits;  // unit_limits.h: MemoryMax, CPUWeight...
    std::string devicePolicy = "closed";
    std::vector<std::pair<std::string, std::string>> deviceAllow;
    std::vector<std::string> runtimeDirectory;  // relative to /run
    std::vector<std::string> requiresMountsFor;
    std::vector<std::string> environment;  // VAR=value
    std::string networkNamespacePath;      // empty: the manager's (unitNetworkNamespace)
    std::string syslogIdentifier;
    std::vector<std::string> execStart;  // argv; argv[0] is the binary
};

struct TransientUnitInputs {
    std::string name;
    const ContainerSpec* spec = nullptr;
    std::string root;
    std::vector<std::string> nspawnArgv;
    // Passed through to nspawn (e.g. DBUS_SYSTEM_BUS_ADDRESS when the bus is
    // not at the default path).
    std::vector<std::string> environment;
    // Where nspawn starts (unitNetworkNamespace); empty: the host's network.
    std::string networkNamespacePath;
};

// The unit name the service gives the containers it starts. Not the
// module's container@NAME.service: that name belongs to the NixOS template
// unit, which systemd would load instead of a transient unit.
std::string serviceUnitName(const std::string& container);
// The unit NixOS itself runs a declarative container as.
std::string declarativeUnitName(const std::string& container);
// Whether a machine of that name runs in one of those two units: only such a
// machine is the container's to adopt, stop or terminate. Any other
// (another nspawn, a VM) is someone else's and is left alone.
bool isContainerUnit(const std::string& container, const std::string& unit);
// What every name of either kind begins with.
inline constexpr const char* kServiceUnitPrefix = "nixos-container@";
inline constexpr const char* kDeclarativeUnitPrefix = "container@";

// The module's serviceDirectives for this container.
TransientUnit buildTransientUnit(const TransientUnitInputs& inputs);

}  // namespace nixos_containers
