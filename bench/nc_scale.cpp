// nc-scale: the driver behind bench/scale.sh (a thousand containers on one
// host). It runs inside the sandbox, on its system bus. Containers are named
// PREFIX0000, PREFIX0001...
//
//   nc-scale create CLIENTS PREFIX COUNT SYSTEM_PATH
//       Create COUNT containers (a private network from the pools, AutoStart)
//       from CLIENTS concurrent clients.
//   nc-scale storm CLIENTS VERB PREFIX COUNT
//       VERB (Start, Stop, Destroy) every container from CLIENTS concurrent
//       clients, while a sampler calls GetId and List on its own connection
//       and counts the service's PropertiesChanged signals.
//   nc-scale capture PREFIX COUNT FILE
//       The running containers' units as systemd has them (the command,
//       environment, devices, mounts, timeout), for `direct`.
//   nc-scale direct CLIENTS FILE
//       The floor: the same units started directly with StartTransientUnit
//       (as nc-floor@NAME.service; nspawn makes the veth itself instead of
//       joining the service's network namespace), CLIENTS at a time, until
//       every job is done; then all stopped.
//   nc-scale autostart PREFIX COUNT
//       StartUnit nixos-containers.service, then List until COUNT containers
//       run (the AutoStart storm), List sampled meanwhile.
//   nc-scale restart PREFIX COUNT
//       RestartUnit nixos-containers.service; until List answers, and how
//       many of the containers it then reports running.
//
// Output: one "key value..." line per figure (times in microseconds).
#include "bench_bus.h"

#include <sdbus-c++/sdbus-c++.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace nc_bench;  // NOLINT(google-build-using-namespace): the drivers' shared vocabulary

using ListRow = sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>;
constexpr char kField = '\t';
constexpr char kItem = '\x1f';
constexpr char kPart = '\x1e';

std::string nameOf(const std::string& prefix, int index) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%04d", index);
    return prefix + digits;
}

std::vector<std::string> namesOf(const std::string& prefix, int count) {
    std::vector<std::string> names;
    for (int i = 0; i < count; ++i) {
        names.push_back(nameOf(prefix, i));
    }
    return names;
}

using ItemCall = std::function<void(std::size_t)>;

// Each of CLIENTS threads, on its own connection, makes its caller once
// (makeCall) and calls it for every CLIENTS-th item; returns the wall time.
// Failed calls are printed and counted.
std::int64_t fanOut(int clients, std::size_t items, std::atomic<int>& failures,
                    std::vector<std::int64_t>& latencies,
                    const std::function<ItemCall(sdbus::IConnection&)>& makeCall) {
    std::mutex mutex;
    std::vector<std::thread> threads;
    auto t0 = nowUs();
    for (int k = 0; k < clients; ++k) {
        threads.emplace_back([&, k] {
            auto connection = sdbus::createSystemBusConnection();
            auto call = makeCall(*connection);
            for (auto i = static_cast<std::size_t>(k); i < items; i += static_cast<std::size_t>(clients)) {
                auto c0 = nowUs();
                try {
                    call(i);
                } catch (const std::exception& error) {
                    std::fprintf(stderr, "item %zu: %s\n", i, error.what());
                    ++failures;
                }
                std::lock_guard lock(mutex);
                latencies.push_back(nowUs() - c0);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    return nowUs() - t0;
}

// GetId and (unless the service is not there) List every 5 ms on a
// connection of its own, and the service's PropertiesChanged counted, until
// stopped.
class Sampler {
public:
    explicit Sampler(bool withList = true) : withList_(withList), thread_([this] { run(); }) {}
    Sampler(const Sampler&) = delete;
    Sampler& operator=(const Sampler&) = delete;
    ~Sampler() {
        if (thread_.joinable()) {
            stop();
        }
    }
    void stop() {
        running_ = false;
        thread_.join();
        report("sampled_list", list_);
        report("sampled_getid", getId_);
        std::printf("properties_changed %d\nsampled_failures %d\n", signals_.load(), failures_);
    }

private:
    void run() {
        auto connection = sdbus::createSystemBusConnection();
        auto bus = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
        auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
        connection->addMatch(
            "type='signal',sender='org.nixos.Containers',interface='org.freedesktop.DBus.Properties',"
            "member='PropertiesChanged'",
            [this](sdbus::Message&) { ++signals_; }, sdbus::floating_slot);
        while (running_) {
            // A failed call is counted, not thrown: it would end the
            // process from this thread.
            try {
                std::string id;
                auto t0 = nowUs();
                bus->callMethod("GetId").onInterface("org.freedesktop.DBus").storeResultsTo(id);
                auto t1 = nowUs();
                getId_.push_back(t1 - t0);
                if (withList_) {
                    std::vector<ListRow> rows;
                    manager->callMethod("List").onInterface(kManagerIf).storeResultsTo(rows);
                    list_.push_back(nowUs() - t1);
                }
            } catch (const sdbus::Error&) {
                ++failures_;
            }
            // Signals arrive between calls: drain them while resting.
            auto until = nowUs() + 5000;
            while (nowUs() < until) {
                while (connection->processPendingRequest()) {
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
    }

    const bool withList_;
    std::atomic<bool> running_{true};
    std::atomic<int> signals_{0};
    std::vector<std::int64_t> list_, getId_;
    int failures_ = 0;  // the thread's own until joined
    std::thread thread_;
};

int create(int clients, const std::string& prefix, int count, const std::string& system) {
    std::atomic<int> failures{0};
    std::vector<std::int64_t> latencies;
    auto names = namesOf(prefix, count);
    auto took =
        fanOut(clients, names.size(), failures, latencies, [&](sdbus::IConnection& connection) -> ItemCall {
            std::shared_ptr manager = sdbus::createProxy(connection, kService, kManagerPath);
            return [&, manager](std::size_t i) {
                std::map<std::string, sdbus::Variant> spec = {{"SystemPath", sdbus::Variant(system)},
                                                              {"PrivateNetwork", sdbus::Variant(true)},
                                                              {"AutoStart", sdbus::Variant(true)}};
                manager->callMethod("Create")
                    .onInterface(kManagerIf)
                    .withTimeout(kLongTimeout)
                    .withArguments(names[i], spec);
            };
        });
    std::printf("create_all %lld\ncreate_failures %d\n", static_cast<long long>(took), failures.load());
    report("create_call", latencies);
    return failures == 0 ? 0 : 1;
}

int storm(int clients, const std::string& verb, const std::string& prefix, int count) {
    std::atomic<int> failures{0};
    std::vector<std::int64_t> latencies;
    auto names = namesOf(prefix, count);
    Sampler sampler;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto took =
        fanOut(clients, names.size(), failures, latencies, [&](sdbus::IConnection& connection) -> ItemCall {
            std::shared_ptr manager = sdbus::createProxy(connection, kService, kManagerPath);
            return [&, manager](std::size_t i) {
                manager->callMethod(verb)
                    .onInterface(kManagerIf)
                    .withTimeout(kLongTimeout)
                    .withArguments(names[i]);
            };
        });
    sampler.stop();
    std::printf("storm_all %lld\nstorm_failures %d\n", static_cast<long long>(took), failures.load());
    report("storm_call", latencies);
    return failures == 0 ? 0 : 1;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : std::string(1, kItem)) + item;
    }
    return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> out;
    if (text.empty()) {
        return out;
    }
    std::stringstream stream(text);
    for (std::string item; std::getline(stream, item, separator);) {
        out.push_back(item);
    }
    return out;
}

int capture(const std::string& prefix, int count, const std::string& file) {
    auto connection = sdbus::createSystemBusConnection();
    std::ofstream out(file);
    for (const auto& name : namesOf(prefix, count)) {
        auto unit =
            sdbus::createProxy(*connection, kSystemd, unitPath("nixos-container@" + name + ".service"));
        const char* service = "org.freedesktop.systemd1.Service";
        auto exec = unit->getProperty("ExecStart").onInterface(service).get<std::vector<ExecStart>>();
        auto env = unit->getProperty("Environment").onInterface(service).get<std::vector<std::string>>();
        auto timeout = unit->getProperty("TimeoutStartUSec").onInterface(service).get<std::uint64_t>();
        auto devices = unit->getProperty("DeviceAllow").onInterface(service).get<std::vector<Device>>();
        auto mounts = unit->getProperty("RequiresMountsFor")
                          .onInterface("org.freedesktop.systemd1.Unit")
                          .get<std::vector<std::string>>();
        if (exec.empty()) {
            throw std::runtime_error("no ExecStart on the unit of " + name);
        }
        // nspawn alone makes its veth: the service's network namespace is gone once it stops.
        std::vector<std::string> argv;
        for (const auto& arg : exec.front().get<1>()) {
            argv.push_back(arg.starts_with("--network-namespace-path=") ? "--network-veth" : arg);
        }
        std::vector<std::string> deviceItems;
        for (const auto& device : devices) {
            deviceItems.push_back(device.get<0>() + kPart + device.get<1>());
        }
        out << name << kField << timeout << kField << exec.front().get<0>() << kField << joined(argv)
            << kField << joined(env) << kField << joined(mounts) << kField << joined(deviceItems) << '\n';
    }
    return out.good() ? 0 : 1;
}

std::vector<Property> floorProperties(const std::vector<std::string>& fields) {
    std::vector<Device> devices;
    for (const auto& item : split(fields.at(6), kItem)) {
        auto parts = split(item, kPart);
        devices.emplace_back(parts.at(0), parts.size() > 1 ? parts[1] : "");
    }
    return unitLikeTheService("nc-scale floor", std::stoull(fields.at(1)), devices, fields.at(2),
                              split(fields.at(3), kItem), split(fields.at(4), kItem),
                              split(fields.at(5), kItem));
}

// Starts UNIT and waits for its job on this connection (which has no loop thread).
std::string runJob(sdbus::IConnection& connection, Jobs& jobs,
                   const std::function<sdbus::ObjectPath()>& enqueue) {
    auto job = enqueue();
    pump(
        connection, [&] { return jobs.done.count(job) > 0; }, kLongTimeout);
    return jobs.done[job].second;
}

int direct(int clients, const std::string& file) {
    std::vector<std::vector<std::string>> units;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        units.push_back(split(line, kField));
        units.back().resize(7);
    }
    auto phase = [&](bool start) {
        std::atomic<int> failures{0};
        std::vector<std::int64_t> latencies;
        auto took = fanOut(
            clients, units.size(), failures, latencies, [&](sdbus::IConnection& connection) -> ItemCall {
                std::shared_ptr systemd = sdbus::createProxy(connection, kSystemd, kSystemdPath);
                auto jobs = std::make_shared<Jobs>();
                systemd->uponSignal("JobRemoved")
                    .onInterface(kSystemdManager)
                    .call([jobs](std::uint32_t, const sdbus::ObjectPath& job, const std::string&,
                                 const std::string& result) {
                        jobs->done[job] = {nowUs(), result};
                    });
                systemd->finishRegistration();
                systemd->callMethod("Subscribe").onInterface(kSystemdManager);
                return [&, systemd, jobs](std::size_t i) {
                    const auto unit = "nc-floor@" + units[i][0] + ".service";
                    auto result = runJob(connection, *jobs, [&] {
                        sdbus::ObjectPath job;
                        if (start) {
                            std::vector<sdbus::Struct<std::string, std::vector<Property>>> aux;
                            systemd->callMethod("StartTransientUnit")
                                .onInterface(kSystemdManager)
                                .withArguments(unit, std::string("fail"), floorProperties(units[i]), aux)
                                .storeResultsTo(job);
                        } else {
                            systemd->callMethod("StopUnit")
                                .onInterface(kSystemdManager)
                                .withArguments(unit, std::string("replace"))
                                .storeResultsTo(job);
                        }
                        return job;
                    });
                    if (result != "done") {
                        throw std::runtime_error(unit + ": " + result);
                    }
                };
            });
        std::printf("direct_%s_all %lld\ndirect_%s_failures %d\n", start ? "start" : "stop",
                    static_cast<long long>(took), start ? "start" : "stop", failures.load());
        report(start ? "direct_start_call" : "direct_stop_call", latencies);
        return failures.load();
    };
    Sampler sampler(false);  // the service is stopped
    auto failed = phase(true);
    sampler.stop();
    failed += phase(false);
    return failed == 0 ? 0 : 1;
}

int countRunning(sdbus::IProxy& manager, const std::string& prefix) {
    std::vector<ListRow> rows;
    manager.callMethod("List")
        .onInterface(kManagerIf)
        .withTimeout(std::chrono::seconds(5))
        .storeResultsTo(rows);
    int running = 0;
    for (const auto& row : rows) {
        running += row.get<0>().starts_with(prefix) && row.get<1>() == "running" ? 1 : 0;
    }
    return running;
}

int autostart(const std::string& prefix, int count) {
    auto connection = sdbus::createSystemBusConnection();
    auto systemd = sdbus::createProxy(*connection, kSystemd, kSystemdPath);
    auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
    std::optional<Sampler> sampler;  // from the first answer on
    auto t0 = nowUs();
    sdbus::ObjectPath job;
    systemd->callMethod("StartUnit")
        .onInterface(kSystemdManager)
        .withArguments(std::string("nixos-containers.service"), std::string("replace"))
        .storeResultsTo(job);
    int running = 0;
    const auto deadline = t0 + 900'000'000;
    while (nowUs() < deadline) {
        try {
            running = countRunning(*manager, prefix);
            if (!sampler) {
                sampler.emplace();
            }
        } catch (const sdbus::Error&) {
            running = 0;  // not on the bus yet
        }
        if (running >= count) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    auto took = nowUs() - t0;
    if (sampler) {
        sampler->stop();
    }
    std::printf("autostart_all %lld\nautostart_running %d\n", static_cast<long long>(took), running);
    return running >= count ? 0 : 1;
}

int restart(const std::string& prefix, int count) {
    auto connection = sdbus::createSystemBusConnection();
    auto systemd = sdbus::createProxy(*connection, kSystemd, kSystemdPath);
    auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
    auto t0 = nowUs();
    sdbus::ObjectPath job;
    systemd->callMethod("RestartUnit")
        .onInterface(kSystemdManager)
        .withArguments(std::string("nixos-containers.service"), std::string("replace"))
        .storeResultsTo(job);
    // The old instance may still answer until systemd has stopped it: a List
    // counts once the bus name has a new owner.
    auto bus = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    const auto deadline = t0 + 60'000'000;
    int running = -1;
    while (nowUs() < deadline) {
        try {
            std::uint32_t pid = 0;
            bus->callMethod("GetConnectionUnixProcessID")
                .onInterface("org.freedesktop.DBus")
                .withArguments(std::string(kService))
                .storeResultsTo(pid);
            auto unit = sdbus::createProxy(*connection, kSystemd, unitPath("nixos-containers.service"));
            auto mainPid = unit->getProperty("MainPID")
                               .onInterface("org.freedesktop.systemd1.Service")
                               .get<std::uint32_t>();
            if (pid == mainPid && pid != 0) {
                running = countRunning(*manager, prefix);
                break;
            }
        } catch (const sdbus::Error&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    auto took = nowUs() - t0;
    std::printf("restart_answers %lld\nrestart_running %d\nrestart_expected %d\n",
                static_cast<long long>(took), running, count);
    return running == count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    return nc_bench::runReporting("nc-scale", [&] {
        const std::vector<std::string> args(argv + 1, argv + argc);
        const std::string cmd = args.empty() ? "" : args[0];
        if (cmd == "create" && args.size() == 5) {
            return create(std::stoi(args[1]), args[2], std::stoi(args[3]), args[4]);
        }
        if (cmd == "storm" && args.size() == 5) {
            return storm(std::stoi(args[1]), args[2], args[3], std::stoi(args[4]));
        }
        if (cmd == "capture" && args.size() == 4) {
            return capture(args[1], std::stoi(args[2]), args[3]);
        }
        if (cmd == "direct" && args.size() == 3) {
            return direct(std::stoi(args[1]), args[2]);
        }
        if (cmd == "autostart" && args.size() == 3) {
            return autostart(args[1], std::stoi(args[2]));
        }
        if (cmd == "restart" && args.size() == 3) {
            return restart(args[1], std::stoi(args[2]));
        }
        std::fprintf(
            stderr,
            "usage: nc-scale create CLIENTS PREFIX COUNT SYSTEM | storm CLIENTS VERB PREFIX COUNT | capture "
            "PREFIX COUNT FILE | direct CLIENTS FILE | autostart PREFIX COUNT | restart PREFIX COUNT\n");
        return 2;
    });
}
