#include "errors.h"

namespace nixos_containers {

std::string_view errorName(ErrorCode code) {
    switch (code) {
        case ErrorCode::NoSuchContainer:
            return "org.nixos.Containers.Error.NoSuchContainer";
        case ErrorCode::AlreadyExists:
            return "org.nixos.Containers.Error.AlreadyExists";
        case ErrorCode::InvalidArgument:
            return "org.nixos.Containers.Error.InvalidArgument";
        case ErrorCode::Busy:
            return "org.nixos.Containers.Error.Busy";
        case ErrorCode::Declarative:
            return "org.nixos.Containers.Error.Declarative";
        case ErrorCode::BuildFailed:
            return "org.nixos.Containers.Error.BuildFailed";
        case ErrorCode::StartFailed:
            return "org.nixos.Containers.Error.StartFailed";
        case ErrorCode::StopFailed:
            return "org.nixos.Containers.Error.StopFailed";
        case ErrorCode::ReloadFailed:
            return "org.nixos.Containers.Error.ReloadFailed";
        case ErrorCode::NotRunning:
            return "org.nixos.Containers.Error.NotRunning";
        case ErrorCode::NoSystemBus:
            return "org.nixos.Containers.Error.NoSystemBus";
        case ErrorCode::NetworkSetupFailed:
            return "org.nixos.Containers.Error.NetworkSetupFailed";
        case ErrorCode::LimitsExceeded:
            return "org.nixos.Containers.Error.LimitsExceeded";
        case ErrorCode::IOError:
            return "org.nixos.Containers.Error.IOError";
        case ErrorCode::AccessDenied:
            return "org.freedesktop.DBus.Error.AccessDenied";
        case ErrorCode::InteractiveAuthorizationRequired:
            return "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";
        case ErrorCode::Failed:
            return "org.freedesktop.DBus.Error.Failed";
    }
    return "org.freedesktop.DBus.Error.Failed";
}

std::string quoteValue(std::string_view value) {
    constexpr std::size_t kShown = 80;
    std::string out = "'";
    for (std::size_t i = 0; i < value.size() && i < kShown; ++i) {
        auto byte = static_cast<unsigned char>(value[i]);
        if (byte >= 0x20 && byte < 0x7f) {
            out += static_cast<char>(byte);
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        }
    }
    if (value.size() > kShown) {
        out += "\xe2\x80\xa6";  // U+2026, the ellipsis
    }
    out += "'";
    return out;
}

}  // namespace nixos_containers
