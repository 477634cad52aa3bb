#pragma once

// What the validators share about the text of a value: which characters
// NAME.conf and the module's template can carry, and how a message shows them.
#include "errors.h"

#include <string>
#include <string_view>

namespace nixos_containers::validation_text {

inline std::string shownChar(char c) {
    return quoteValue(std::string_view(&c, 1));
}

inline bool isAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

inline bool isControlOrNonAscii(char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte >= 0x7f;
}

// Characters that cannot be written into NAME.conf as the module's template
// reads it (systemd EnvironmentFile= quoting, then bash word splitting and
// globbing of $EXTRA_NSPAWN_FLAGS), besides whitespace.
inline bool isConfUnsafe(char c) {
    return c == '"' || c == '\'' || c == '\\' || c == '$' || c == '`' || isControlOrNonAscii(c);
}

inline bool isGlobChar(char c) {
    return c == '*' || c == '?' || c == '[';
}

// Rejects characters that would not survive NAME.conf (see isConfUnsafe)
// or that the conf format uses as separators (whitespace).
inline void requireConfSafe(std::string_view what, std::string_view value) {
    for (char c : value) {
        if (isAsciiSpace(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(value) + " contains whitespace");
        }
        if (isConfUnsafe(c)) {
            throwInvalid(std::string(what) + " " + quoteValue(value) + " contains " + shownChar(c));
        }
    }
}

inline bool hasDotDotComponent(std::string_view path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        auto end = slash == std::string_view::npos ? path.size() : slash;
        if (path.substr(start, end - start) == "..") {
            return true;
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return false;
}

inline void requireAbsolute(std::string_view what, std::string_view path) {
    if (path.empty() || path.front() != '/') {
        throwInvalid(std::string(what) + " " + quoteValue(path) + " is not an absolute path");
    }
}

}  // namespace nixos_containers::validation_text
