#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace nixos_containers {

// The one error catalogue of the service. Each code maps to exactly one
// D-Bus error name (errorName), documented in interfaces/*.xml.
enum class ErrorCode {
    NoSuchContainer,
    AlreadyExists,
    InvalidArgument,
    Busy,
    Declarative,
    BuildFailed,
    StartFailed,
    StopFailed,
    ReloadFailed,
    NotRunning,
    NoSystemBus,  // OpenShell/OpenLogin: the container runs no system bus (no systemd inside)
    NetworkSetupFailed,
    LimitsExceeded,
    IOError,
    AccessDenied,
    InteractiveAuthorizationRequired,
    Failed,  // an unexpected failure of a peer; maps to org.freedesktop.DBus.Error.Failed
};

std::string_view errorName(ErrorCode code);

// Thrown by core functions; carried as a value by asynchronous completions.
class ContainerError : public std::runtime_error {
public:
    ContainerError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    [[nodiscard]] ErrorCode code() const { return code_; }

private:
    ErrorCode code_;
};

// A value for an error message: quoted, printable ASCII as is, every other
// byte escaped (messages travel over D-Bus, which takes valid UTF-8 only,
// and values may come from a fuzzer or a hand-edited conf), cut at 80 bytes.
std::string quoteValue(std::string_view value);

[[noreturn]] inline void throwInvalid(const std::string& message) {
    throw ContainerError(ErrorCode::InvalidArgument, message);
}

}  // namespace nixos_containers
