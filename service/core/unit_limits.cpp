#include "unit_limits.h"

#include "errors.h"
#include "systemd_values.h"
#include "validation_text.h"

#include <charconv>
#include <limits>

namespace nixos_containers {

namespace {

constexpr std::uint64_t kInfinity = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kUsecPerSecond = 1'000'000;

std::uint64_t wholeNumber(std::string_view text, std::uint64_t least, std::uint64_t most) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value < least || value > most) {
        throwInvalid(quoteValue(text) + " is not a whole number from " + std::to_string(least) + " to " +
                     std::to_string(most));
    }
    return value;
}

std::uint64_t weight(std::string_view text) {
    return wholeNumber(text, 1, 10'000);
}

// "N%": N percent of one CPU's time, per second (200% is two CPUs).
std::uint64_t cpuQuota(std::string_view text) {
    if (text.empty() || text.back() != '%') {
        throwInvalid(quoteValue(text) + " is not a percentage such as 50% or 200%");
    }
    text.remove_suffix(1);
    return wholeNumber(text, 1, 100'000) * (kUsecPerSecond / 100);
}

std::uint64_t tasks(std::string_view text) {
    return text == "infinity" ? kInfinity : wholeNumber(text, 1, std::numeric_limits<std::uint32_t>::max());
}

const UnitLimitKey kKeys[] = {
    {"MemoryMax", &ContainerSpec::memoryMax, "MemoryMax", &parseMemoryBytes, kInfinity,
     "bytes with an optional K, M, G or T (1024-based), or \"infinity\""},
    {"MemoryHigh", &ContainerSpec::memoryHigh, "MemoryHigh", &parseMemoryBytes, kInfinity,
     "bytes with an optional K, M, G or T (1024-based), or \"infinity\""},
    {"CPUWeight", &ContainerSpec::cpuWeight, "CPUWeight", &weight, kInfinity, "1 to 10000"},
    {"CPUQuota", &ContainerSpec::cpuQuota, "CPUQuotaPerSecUSec", &cpuQuota, kInfinity,
     "a whole percentage of one CPU, such as 50% or 200%"},
    {"TasksMax", &ContainerSpec::tasksMax, "TasksMax", &tasks, std::nullopt, "a count, or \"infinity\""},
    {"IOWeight", &ContainerSpec::ioWeight, "IOWeight", &weight, kInfinity, "1 to 10000"},
};

}  // namespace

std::span<const UnitLimitKey> unitLimitKeys() {
    return kKeys;
}

std::vector<UnitProperty> unitLimits(const ContainerSpec& spec) {
    std::vector<UnitProperty> properties;
    for (const auto& key : kKeys) {
        if (const auto& text = spec.*key.field; !text.empty()) {
            properties.push_back({std::string(key.property), key.value(text)});
        }
    }
    return properties;
}

std::vector<UnitProperty> changedUnitLimits(const ContainerSpec& before, const ContainerSpec& after) {
    std::vector<UnitProperty> properties;
    for (const auto& key : kKeys) {
        const auto& text = after.*key.field;
        if (text == before.*key.field) {
            continue;
        }
        if (!text.empty()) {
            properties.push_back({std::string(key.property), key.value(text)});
        } else if (key.unset) {
            properties.push_back({std::string(key.property), *key.unset});
        }
    }
    return properties;
}

bool clearingNeedsRestart(const ContainerSpec& before, const ContainerSpec& after) {
    for (const auto& key : kKeys) {
        if (!key.unset && (after.*key.field).empty() && !(before.*key.field).empty()) {
            return true;
        }
    }
    return false;
}

void applyTenantLimits(ContainerSpec& spec, const Settings& settings) {
    for (const auto& key : kKeys) {
        auto limit = settings.tenantLimits.find(key.key);
        if (limit != settings.tenantLimits.end() && (spec.*key.field).empty()) {
            spec.*key.field = limit->second;
        }
    }
}

bool aboveTenantLimit(const UnitLimitKey& key, const ContainerSpec& spec, const Settings& settings) {
    auto limit = settings.tenantLimits.find(key.key);
    if (limit == settings.tenantLimits.end() || limit->second.empty()) {
        return false;
    }
    const auto& text = spec.*key.field;
    if (text.empty()) {
        return true;  // systemd's default: no limit at all
    }
    try {
        return key.value(text) > key.value(limit->second);
    } catch (const ContainerError&) {
        return true;  // validation names it; never taken as within the limit
    }
}

const UnitLimitKey* unitLimitKeyOf(std::string ContainerSpec::*field) {
    for (const auto& key : kKeys) {
        if (key.field == field) {
            return &key;
        }
    }
    return nullptr;
}

void validateUnitLimits(const ContainerSpec& spec, const Settings& /*settings*/) {
    for (const auto& key : kKeys) {
        const auto& text = spec.*key.field;
        if (text.empty()) {
            continue;
        }
        try {
            key.value(text);
        } catch (const ContainerError& error) {
            throwInvalid(std::string(key.key) + " " + error.what());
        }
    }
}

}  // namespace nixos_containers
