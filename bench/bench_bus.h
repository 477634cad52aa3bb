// What the benchmark drivers (nc_bench.cpp, nc_scale.cpp) share: the bus
// names they talk to, a monotonic clock in microseconds, percentiles as
// "key p50 X p99 Y n N" lines, object paths as sd-bus escapes them, and
// pumping a connection that has no loop thread.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace nc_bench {

inline constexpr const char* kService = "org.nixos.Containers";
inline constexpr const char* kManagerPath = "/org/nixos/Containers";
inline constexpr const char* kManagerIf = "org.nixos.Containers";
inline constexpr const char* kContainerIf = "org.nixos.Containers.Container";
inline constexpr const char* kSystemd = "org.freedesktop.systemd1";
inline constexpr const char* kSystemdPath = "/org/freedesktop/systemd1";
inline constexpr const char* kSystemdManager = "org.freedesktop.systemd1.Manager";
inline constexpr const char* kMachined = "org.freedesktop.machine1";
inline constexpr const char* kMachinedPath = "/org/freedesktop/machine1";
inline constexpr const char* kMachinedManager = "org.freedesktop.machine1.Manager";
inline constexpr auto kLongTimeout = std::chrono::seconds(180);

inline std::int64_t nowUs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}

inline double percentile(std::vector<std::int64_t> values, double p) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    auto index = static_cast<std::size_t>(std::lround(p / 100.0 * static_cast<double>(values.size() - 1)));
    return static_cast<double>(values[std::min(index, values.size() - 1)]);
}

inline void report(const std::string& key, const std::vector<std::int64_t>& samples) {
    std::printf("%s p50 %.0f p99 %.0f n %zu\n", key.c_str(), percentile(samples, 50), percentile(samples, 99),
                samples.size());
    std::fflush(stdout);
}

inline std::string escapeLabel(const std::string& name) {  // as sd-bus's bus_label_escape
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : name) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out += static_cast<char>(c);
        } else {
            out += '_';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

inline std::string containerPath(const std::string& name) {
    return std::string(kManagerPath) + "/container/" + escapeLabel(name);
}

inline std::string unitPath(const std::string& unit) {
    return "/org/freedesktop/systemd1/unit/" + escapeLabel(unit);
}

// Drive a connection that has no loop thread until pred() or the deadline.
template <typename Pred>
void pump(sdbus::IConnection& connection, Pred pred, std::chrono::milliseconds limit) {
    auto deadline = nowUs() + std::chrono::duration_cast<std::chrono::microseconds>(limit).count();
    while (!pred()) {
        while (connection.processPendingRequest()) {
            if (pred()) {
                return;
            }
        }
        if (pred()) {
            return;
        }
        auto left = deadline - nowUs();
        if (left <= 0) {
            throw std::runtime_error("timed out waiting for a bus event");
        }
        auto data = connection.getEventLoopPollData();
        pollfd fd{data.fd, static_cast<short>(data.events), 0};
        ::poll(&fd, 1, static_cast<int>(std::min<std::int64_t>(left / 1000 + 1, 100)));
    }
}

using ExecStart = sdbus::Struct<std::string, std::vector<std::string>, bool, std::uint64_t, std::uint64_t,
                                std::uint64_t, std::uint64_t, std::uint32_t, std::int32_t, std::int32_t>;
using Property = sdbus::Struct<std::string, sdbus::Variant>;

struct Jobs {
    std::map<std::string, std::pair<std::int64_t, std::string>> done;  // job -> (time, result)
};

inline void waitMachineGone(sdbus::IProxy& machined, const std::string& name) {
    auto deadline = nowUs() + 10'000'000;
    while (nowUs() < deadline) {
        try {
            sdbus::ObjectPath path;
            machined.callMethod("GetMachine")
                .onInterface(kMachinedManager)
                .withArguments(name)
                .storeResultsTo(path);
        } catch (const sdbus::Error&) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    throw std::runtime_error("machine " + name + " did not go away");
}

using Device = sdbus::Struct<std::string, std::string>;

// The properties of a transient unit that runs the service's nspawn command
// as the service's unit does (type, slice, delegation, kill mode, exit
// statuses, devices), for a baseline started directly.
inline std::vector<Property> unitLikeTheService(const std::string& description, std::uint64_t timeoutUsec,
                                                const std::vector<Device>& devices, const std::string& path,
                                                const std::vector<std::string>& argv,
                                                const std::vector<std::string>& environment,
                                                const std::vector<std::string>& requiresMountsFor) {
    using ExecCommand = sdbus::Struct<std::string, std::vector<std::string>, bool>;
    using ExitStatus = sdbus::Struct<std::vector<std::int32_t>, std::vector<std::int32_t>>;
    std::vector<Property> props = {
        {"Description", sdbus::Variant(description)},
        {"Slice", sdbus::Variant(std::string("machine.slice"))},
        {"Type", sdbus::Variant(std::string("notify"))},
        {"NotifyAccess", sdbus::Variant(std::string("all"))},
        {"Delegate", sdbus::Variant(true)},
        {"KillMode", sdbus::Variant(std::string("mixed"))},
        {"KillSignal", sdbus::Variant(std::int32_t{15})},
        {"SuccessExitStatus", sdbus::Variant(ExitStatus({133}, {}))},
        {"RestartForceExitStatus", sdbus::Variant(ExitStatus({133}, {}))},
        {"Restart", sdbus::Variant(std::string("no"))},
        {"TimeoutStartUSec", sdbus::Variant(timeoutUsec)},
        {"DevicePolicy", sdbus::Variant(std::string("closed"))},
        {"DeviceAllow", sdbus::Variant(devices)},
        {"SyslogIdentifier", sdbus::Variant(description)},
        {"ExecStart", sdbus::Variant(std::vector<ExecCommand>{ExecCommand(path, argv, false)})},
    };
    if (!requiresMountsFor.empty()) {
        props.emplace_back("RequiresMountsFor", sdbus::Variant(requiresMountsFor));
    }
    if (!environment.empty()) {
        props.emplace_back("Environment", sdbus::Variant(environment));
    }
    return props;
}

// A driver's main: runs `command` and says what ended it, if anything did
// (then 1).
template <typename Command>
int runReporting(const char* driver, Command command) {
    try {
        return command();
    } catch (const sdbus::Error& error) {
        std::fprintf(stderr, "%s: %s: %s\n", driver, error.getName().c_str(), error.getMessage().c_str());
    } catch (const std::exception& error) {
        std::fprintf(stderr, "%s: %s\n", driver, error.what());
    }
    return 1;
}

}  // namespace nc_bench
