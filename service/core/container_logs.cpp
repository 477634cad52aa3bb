#include "container_logs.h"

#include "errors.h"
#include "verb_table.h"

#include <array>
#include <chrono>
#include <ctime>
#include <utility>

namespace nixos_containers {

namespace {

// The length of the valid UTF-8 sequence at text[at], or 0.
std::size_t utf8Sequence(std::string_view text, std::size_t at) {
    const auto lead = static_cast<unsigned char>(text[at]);
    std::size_t length = 0;
    if (lead >= 0xc2 && lead <= 0xdf) {
        length = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        length = 3;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        length = 4;
    } else {
        return 0;
    }
    if (at + length > text.size()) {
        return 0;
    }
    for (std::size_t i = 1; i < length; ++i) {
        if ((static_cast<unsigned char>(text[at + i]) & 0xc0) != 0x80) {
            return 0;
        }
    }
    const auto second = static_cast<unsigned char>(text[at + 1]);
    if ((lead == 0xe0 && second < 0xa0) || (lead == 0xed && second > 0x9f) ||
        (lead == 0xf0 && second < 0x90) || (lead == 0xf4 && second > 0x8f)) {
        return 0;  // overlong, a surrogate, or past U+10FFFF
    }
    return length;
}

// U+0080..U+009F: a terminal may take U+009B as a CSI, as it takes ESC [.
bool isC1Control(std::string_view text, std::size_t at) {
    return static_cast<unsigned char>(text[at]) == 0xc2 && static_cast<unsigned char>(text[at + 1]) < 0xa0;
}

void appendEscaped(std::string& out, std::string_view text) {
    static constexpr std::string_view kHex = "0123456789abcdef";
    for (std::size_t at = 0; at < text.size();) {
        const auto byte = static_cast<unsigned char>(text[at]);
        if (byte == '\t' || (byte >= 0x20 && byte < 0x7f)) {
            out += static_cast<char>(byte);
            ++at;
        } else if (auto length = byte >= 0x80 ? utf8Sequence(text, at) : 0;
                   length > 0 && !isC1Control(text, at)) {
            out.append(text.substr(at, length));
            at += length;
        } else {
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
            ++at;
        }
    }
}

std::string isoTime(std::uint64_t realtimeUsec) {
    const auto seconds = static_cast<std::time_t>(realtimeUsec / 1000000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    std::array<char, 40> text{};
    const auto length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &utc);
    std::array<char, 16> fraction{};
    std::snprintf(fraction.data(), fraction.size(), ".%06llu",
                  static_cast<unsigned long long>(realtimeUsec % 1000000));
    return std::string(text.data(), length) + fraction.data() + "Z";
}

// When the container was made: its profile's first generation, linked by
// its Create. Without one, a user's container shows only what comes from
// now on; root's (the module's, which may keep no profile here) shows all
// of its unit's history, which an earlier container of that name shares.
std::uint64_t createdUsec(const Container& container) {
    if (!container.generations.empty()) {
        return container.generations.front().createdUsec;
    }
    if (container.owner == 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace

std::string formatLogLine(std::uint64_t realtimeUsec, std::string_view identifier, std::string_view pid,
                          std::string_view message) {
    std::string line = isoTime(realtimeUsec) + " ";
    appendEscaped(line, identifier.empty() ? "-" : identifier);
    if (!pid.empty()) {
        line += "[";
        appendEscaped(line, pid);
        line += "]";
    }
    line += ": ";
    const bool cut = message.size() > kMaxLogMessage;
    appendEscaped(line, cut ? message.substr(0, kMaxLogMessage) : message);
    if (cut) {
        line += " [" + std::to_string(message.size() - kMaxLogMessage) + " more bytes cut]";
    }
    line += "\n";
    return line;
}

void ContainerLogs::open(const Caller& caller, const std::string& name, std::uint32_t lines, bool follow,
                         Callback<std::shared_ptr<UniqueFd>> done) {
    try {
        (void)registry_.get(name);
        if (lines > kMaxLogLines) {
            throwInvalid("lines " + std::to_string(lines) + " is more than " + std::to_string(kMaxLogLines));
        }
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    gate_.authorize(caller, std::string(kLogsPolicy.action), name, std::string(kLogsPolicy.name),
                    [this, caller, name, lines, follow, done = std::move(done)](const Status& allowed) {
                        if (!allowed.ok()) {
                            done(allowed.error());
                            return;
                        }
                        const auto* container = registry_.find(name);
                        if (container == nullptr) {  // destroyed while polkit thought
                            done(ContainerError(ErrorCode::NoSuchContainer, "no container '" + name + "'"));
                            return;
                        }
                        try {
                            done(std::make_shared<UniqueFd>(journal_.open(
                                {container->unit, caller.uid, lines, follow, createdUsec(*container)})));
                        } catch (const ContainerError& error) {
                            done(error);
                        }
                    });
}

}  // namespace nixos_containers
