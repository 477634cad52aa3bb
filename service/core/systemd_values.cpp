#include "systemd_values.h"

#include "errors.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <string>

namespace nixos_containers {

namespace {

bool isAsciiSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// ---- time spans ------------------------------------------------------------

constexpr std::uint64_t kUsecPerSec = 1000000;

struct TimeUnit {
    std::string_view name;
    std::uint64_t usec;
};

// systemd.time(7)'s units; a bare number means seconds.
constexpr auto kTimeUnits = std::to_array<TimeUnit>({
    {"us", 1},
    {"usec", 1},
    {"\xc2\xb5s", 1},  // µs, U+00B5
    {"\xce\xbcs", 1},  // μs, U+03BC
    {"ms", 1000},
    {"msec", 1000},
    {"s", kUsecPerSec},
    {"sec", kUsecPerSec},
    {"second", kUsecPerSec},
    {"seconds", kUsecPerSec},
    {"m", 60 * kUsecPerSec},
    {"min", 60 * kUsecPerSec},
    {"minute", 60 * kUsecPerSec},
    {"minutes", 60 * kUsecPerSec},
    {"h", 3600 * kUsecPerSec},
    {"hr", 3600 * kUsecPerSec},
    {"hour", 3600 * kUsecPerSec},
    {"hours", 3600 * kUsecPerSec},
    {"d", 86400 * kUsecPerSec},
    {"day", 86400 * kUsecPerSec},
    {"days", 86400 * kUsecPerSec},
    {"w", 604800 * kUsecPerSec},
    {"week", 604800 * kUsecPerSec},
    {"weeks", 604800 * kUsecPerSec},
    {"M", 2629800 * kUsecPerSec},
    {"month", 2629800 * kUsecPerSec},
    {"months", 2629800 * kUsecPerSec},
    {"y", 31557600 * kUsecPerSec},
    {"year", 31557600 * kUsecPerSec},
    {"years", 31557600 * kUsecPerSec},
});

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

bool addChecked(std::uint64_t& total, std::uint64_t value) {
    if (value > std::numeric_limits<std::uint64_t>::max() - total) {
        return false;
    }
    total += value;
    return true;
}

[[noreturn]] void badTimespan(std::string_view text, const std::string& why) {
    throwInvalid(quoteValue(text) + " is not a time span: " + why);
}

}  // namespace

std::uint64_t parseMemoryBytes(std::string_view text) {
    if (text == "infinity") {
        return std::numeric_limits<std::uint64_t>::max();
    }
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    const std::string_view suffix(end, static_cast<std::size_t>(text.data() + text.size() - end));
    static constexpr std::string_view kSuffixes = "KMGT";
    const auto unit = suffix.size() == 1 ? kSuffixes.find(suffix) : std::string_view::npos;
    if (error != std::errc{} || end == text.data() || (!suffix.empty() && unit == std::string_view::npos)) {
        throwInvalid(quoteValue(text) +
                     " is not a size (bytes with an optional K, M, G or T, or \"infinity\")");
    }
    const unsigned shift = suffix.empty() ? 0U : 10U * static_cast<unsigned>(unit + 1);
    if (value == 0 || (shift > 0 && value > (std::numeric_limits<std::uint64_t>::max() >> shift))) {
        throwInvalid(quoteValue(text) + " is out of range");
    }
    return value << shift;
}

std::uint64_t parseTimespanUsec(std::string_view text) {
    auto trim = [](std::string_view s) {
        while (!s.empty() && isAsciiSpace(s.front()))
            s.remove_prefix(1);
        while (!s.empty() && isAsciiSpace(s.back()))
            s.remove_suffix(1);
        return s;
    };
    std::string_view rest = trim(text);
    if (rest == "infinity") {
        return std::numeric_limits<std::uint64_t>::max();
    }
    if (rest.empty()) {
        badTimespan(text, "it is empty");
    }
    std::uint64_t total = 0;
    while (!rest.empty()) {
        // One component: digits, an optional fraction, an optional unit.
        std::size_t i = 0;
        std::uint64_t whole = 0;
        bool digits = false;
        while (i < rest.size() && isDigit(rest[i])) {
            auto digit = static_cast<std::uint64_t>(rest[i] - '0');
            if (whole > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
                badTimespan(text, "it is too large");
            }
            whole = whole * 10 + digit;
            digits = true;
            ++i;
        }
        std::string_view fraction;
        if (i < rest.size() && rest[i] == '.') {
            ++i;
            auto start = i;
            while (i < rest.size() && isDigit(rest[i]))
                ++i;
            fraction = rest.substr(start, i - start);
            digits = digits || !fraction.empty();
        }
        if (!digits) {
            badTimespan(text, "expected a number at " + quoteValue(rest));
        }
        while (i < rest.size() && isAsciiSpace(rest[i]))
            ++i;
        auto unitStart = i;
        while (i < rest.size() && !isDigit(rest[i]) && !isAsciiSpace(rest[i]) && rest[i] != '.') {
            ++i;
        }
        auto unitName = rest.substr(unitStart, i - unitStart);
        std::uint64_t multiplier = kUsecPerSec;
        if (!unitName.empty()) {
            auto unit = std::find_if(kTimeUnits.begin(), kTimeUnits.end(),
                                     [&](const TimeUnit& u) { return u.name == unitName; });
            if (unit == kTimeUnits.end()) {
                badTimespan(text, "unknown unit " + quoteValue(unitName));
            }
            multiplier = unit->usec;
        }
        if (whole != 0 && multiplier > std::numeric_limits<std::uint64_t>::max() / whole) {
            badTimespan(text, "it is too large");
        }
        if (!addChecked(total, whole * multiplier)) {
            badTimespan(text, "it is too large");
        }
        // The fraction, digit by digit as systemd does: precision below a
        // microsecond is dropped.
        std::uint64_t scale = multiplier;
        for (char c : fraction) {
            scale /= 10;
            if (scale == 0)
                break;
            if (!addChecked(total, static_cast<std::uint64_t>(c - '0') * scale)) {
                badTimespan(text, "it is too large");
            }
        }
        rest = trim(rest.substr(i));
    }
    return total;
}

}  // namespace nixos_containers
