// nc-bench: the benchmark driver behind bench/run.sh. It runs inside the
// sandbox (on its system bus) and measures the service against a baseline
// taken in the same process, on the same connection where that matters:
//
//   nc-bench reads NAME ITERS
//       List, GetContainer, Get(State) and Inspect of NAME, one after the
//       other, each call paired with a GetId (bus daemon round trip) right
//       before it, all over one connection.
//   nc-bench start NAME ITERS
//       Start NAME through the service, against the identical nspawn command
//       (ExecStart, Environment and the rest copied from the service's unit)
//       started directly with StartTransientUnit as
//       nixos-container@nc-bench-baseline.service, and as a plainly named
//       unit, alternating.
//   nc-bench storm CLIENTS NAME...
//       Start every NAME from CLIENTS concurrent clients (own connections),
//       while a sampler calls List (and GetId) on its own connection; then
//       Stop them all the same way.
//   nc-bench startup ITERS
//       RestartUnit nixos-containers.service; from the unit's
//       ExecMainStartTimestampMonotonic until NameOwnerChanged gives
//       org.nixos.Containers an owner.
//   nc-bench build NIXOS_PATH ITERS
//       Create from a Config (the service runs nix-env), against the same
//       nix-env run by hand from this process (nix-env -p PROFILE -I
//       nixos-config=FILE -f NIXOS_PATH --set -A system, as nixos-container
//       create), alternating; every build is of a configuration not built
//       before. Nix's settings come from this process's environment.
//
// Output: one "key value..." line per figure (times in microseconds), read
// by run.sh.
#include "bench_bus.h"

#include <sdbus-c++/sdbus-c++.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace nc_bench;  // NOLINT(google-build-using-namespace): the drivers' shared vocabulary

// ------------------------------------------------------------------ reads

int reads(const std::string& name, int iters) {
    auto connection = sdbus::createSystemBusConnection();
    auto bus = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
    auto container = sdbus::createProxy(*connection, kService, containerPath(name));
    std::size_t listed = 0, json = 0;
    std::int64_t listDecodeFrom = 0;
    std::vector<std::pair<std::string, std::function<void()>>> reads = {
        {"list",
         [&] {
             auto call = manager->createMethodCall(kManagerIf, "List");
             auto reply = manager->callMethod(call);
             listDecodeFrom = nowUs();  // the rest is this client's own unpacking
             std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> rows;
             reply >> rows;
             listed = rows.size();
         }},
        {"getcontainer",
         [&] {
             sdbus::ObjectPath path;
             manager->callMethod("GetContainer")
                 .onInterface(kManagerIf)
                 .withArguments(name)
                 .storeResultsTo(path);
         }},
        {"property",
         [&] {
             sdbus::Variant state = container->getProperty("State").onInterface(kContainerIf);
             (void)state.get<std::string>();
         }},
        {"inspect",
         [&] {
             std::string text;
             manager->callMethod("Inspect").onInterface(kManagerIf).withArguments(name).storeResultsTo(text);
             json = text.size();
         }},
    };
    // One read at a time, each sample right after its own GetId sample: the
    // pair sees the same caches and clock, and a big List does not slow the
    // next figure's calls.
    for (const auto& [key, read] : reads) {
        std::vector<std::int64_t> baseline, samples, decoding;
        for (int i = -20; i < iters; ++i) {  // 20 rounds of warm-up
            std::string id;
            auto t0 = nowUs();
            bus->callMethod("GetId").onInterface("org.freedesktop.DBus").storeResultsTo(id);
            auto t1 = nowUs();
            read();
            auto t2 = nowUs();
            if (i >= 0) {
                baseline.push_back(t1 - t0);
                samples.push_back(t2 - t1);
                if (key == "list") {
                    decoding.push_back(t2 - listDecodeFrom);
                }
            }
        }
        report("getid_" + key, baseline);
        report(key, samples);
        if (!decoding.empty()) {
            report(key + "_client_decoding", decoding);
        }
    }
    std::printf("listed %zu\ninspect_bytes %zu\n", listed, json);
    return 0;
}

// ------------------------------------------------------------------ start

int start(const std::string& name, int iters) {
    auto connection = sdbus::createSystemBusConnection();
    auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
    auto systemd = sdbus::createProxy(*connection, kSystemd, kSystemdPath);
    auto machined = sdbus::createProxy(*connection, kMachined, kMachinedPath);
    Jobs jobs;
    systemd->uponSignal("JobRemoved")
        .onInterface(kSystemdManager)
        .call([&jobs](std::uint32_t, const sdbus::ObjectPath& job, const std::string&,
                      const std::string& result) {
            jobs.done[job] = {nowUs(), result};
        });
    systemd->finishRegistration();
    systemd->callMethod("Subscribe").onInterface(kSystemdManager);

    const std::string unit = "nixos-container@" + name + ".service";
    // The baseline's name has the form of the service's units; systemd took
    // ~4 ms longer for such a job than for a plain name here, so a plainly
    // named unit is measured too.
    const std::string baseUnit = "nixos-container@nc-bench-baseline.service";
    const std::string plainUnit = "nc-bench-baseline.service";
    std::vector<std::int64_t> service, baseline, plain;
    for (int i = 0; i < iters; ++i) {
        auto t0 = nowUs();
        manager->callMethod("Start").onInterface(kManagerIf).withTimeout(kLongTimeout).withArguments(name);
        auto t1 = nowUs();
        service.push_back(t1 - t0);

        // The command the service ran, as systemd has it.
        auto u = sdbus::createProxy(*connection, kSystemd, unitPath(unit));
        auto exec = u->getProperty("ExecStart")
                        .onInterface("org.freedesktop.systemd1.Service")
                        .get<std::vector<ExecStart>>();
        auto env = u->getProperty("Environment")
                       .onInterface("org.freedesktop.systemd1.Service")
                       .get<std::vector<std::string>>();
        auto timeout = u->getProperty("TimeoutStartUSec")
                           .onInterface("org.freedesktop.systemd1.Service")
                           .get<std::uint64_t>();
        auto devices = u->getProperty("DeviceAllow")
                           .onInterface("org.freedesktop.systemd1.Service")
                           .get<std::vector<Device>>();
        auto mounts = u->getProperty("RequiresMountsFor")
                          .onInterface("org.freedesktop.systemd1.Unit")
                          .get<std::vector<std::string>>();
        if (exec.empty()) {
            throw std::runtime_error("no ExecStart on " + unit);
        }
        manager->callMethod("Stop").onInterface(kManagerIf).withTimeout(kLongTimeout).withArguments(name);
        waitMachineGone(*machined, name);

        auto props = unitLikeTheService("nc-bench baseline", timeout, devices, exec.front().get<0>(),
                                        exec.front().get<1>(), env, mounts);
        std::vector<sdbus::Struct<std::string, std::vector<Property>>> aux;
        for (const auto* unitName : {&baseUnit, &plainUnit}) {
            sdbus::ObjectPath job;
            auto b0 = nowUs();
            systemd->callMethod("StartTransientUnit")
                .onInterface(kSystemdManager)
                .withArguments(*unitName, std::string("fail"), props, aux)
                .storeResultsTo(job);
            pump(
                *connection, [&] { return jobs.done.count(job) > 0; }, kLongTimeout);
            auto [b1, result] = jobs.done[job];
            if (result != "done") {
                throw std::runtime_error("baseline unit start: " + result);
            }
            (unitName == &baseUnit ? baseline : plain).push_back(b1 - b0);

            sdbus::ObjectPath stopJob;
            systemd->callMethod("StopUnit")
                .onInterface(kSystemdManager)
                .withArguments(*unitName, std::string("replace"))
                .storeResultsTo(stopJob);
            pump(
                *connection, [&] { return jobs.done.count(stopJob) > 0; }, kLongTimeout);
            waitMachineGone(*machined, name);
        }
    }
    report("start_service", service);
    report("start_baseline", baseline);
    report("start_baseline_plain_name", plain);
    return 0;
}

// ------------------------------------------------------------------ storm

int storm(int clients, const std::vector<std::string>& names) {
    std::atomic<bool> running{true};
    std::atomic<int> failures{0};
    std::vector<std::int64_t> listSamples, idSamples;
    std::mutex mutex;
    std::thread sampler([&] {
        auto connection = sdbus::createSystemBusConnection();
        auto bus = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
        auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
        while (running) {
            std::string id;
            auto t0 = nowUs();
            bus->callMethod("GetId").onInterface("org.freedesktop.DBus").storeResultsTo(id);
            auto t1 = nowUs();
            std::vector<sdbus::Struct<std::string, std::string, bool, sdbus::ObjectPath>> rows;
            manager->callMethod("List").onInterface(kManagerIf).storeResultsTo(rows);
            auto t2 = nowUs();
            {
                std::lock_guard lock(mutex);
                idSamples.push_back(t1 - t0);
                listSamples.push_back(t2 - t1);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    });
    auto phase = [&](const char* verb) {
        std::vector<std::thread> threads;
        auto t0 = nowUs();
        for (int k = 0; k < clients; ++k) {
            threads.emplace_back([&, k] {
                auto connection = sdbus::createSystemBusConnection();
                auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
                for (std::size_t i = static_cast<std::size_t>(k); i < names.size(); i += clients) {
                    try {
                        manager->callMethod(verb)
                            .onInterface(kManagerIf)
                            .withTimeout(kLongTimeout)
                            .withArguments(names[i]);
                    } catch (const sdbus::Error& error) {
                        std::fprintf(stderr, "%s %s: %s\n", verb, names[i].c_str(),
                                     error.getMessage().c_str());
                        ++failures;
                    }
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        return nowUs() - t0;
    };
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a few idle samples first
    auto startUs = phase("Start");
    std::vector<std::int64_t> stormList, stormId;
    {
        std::lock_guard lock(mutex);
        stormList = listSamples;
        stormId = idSamples;
    }
    auto stopUs = phase("Stop");
    running = false;
    sampler.join();
    std::printf("storm_start_all %lld\nstorm_stop_all %lld\nstorm_failures %d\n",
                static_cast<long long>(startUs), static_cast<long long>(stopUs), failures.load());
    report("storm_list", stormList);
    report("storm_getid", stormId);
    return failures == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- startup

int startup(int iters) {
    auto connection = sdbus::createSystemBusConnection();
    auto bus = sdbus::createProxy(*connection, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    auto systemd = sdbus::createProxy(*connection, kSystemd, kSystemdPath);
    auto unit = sdbus::createProxy(*connection, kSystemd, unitPath("nixos-containers.service"));
    std::int64_t acquired = 0;
    bus->uponSignal("NameOwnerChanged")
        .onInterface("org.freedesktop.DBus")
        .call([&acquired](const std::string& name, const std::string&, const std::string& owner) {
            if (name == kService && !owner.empty()) {
                acquired = nowUs();
            }
        });
    bus->finishRegistration();
    std::vector<std::int64_t> samples;
    for (int i = 0; i < iters; ++i) {
        acquired = 0;
        // Back-to-back restarts would hit the unit's start limit.
        systemd->callMethod("ResetFailedUnit")
            .onInterface(kSystemdManager)
            .withArguments(std::string("nixos-containers.service"));
        sdbus::ObjectPath job;
        systemd->callMethod("RestartUnit")
            .onInterface(kSystemdManager)
            .withArguments(std::string("nixos-containers.service"), std::string("replace"))
            .storeResultsTo(job);
        pump(
            *connection, [&] { return acquired != 0; }, std::chrono::seconds(60));
        auto started = unit->getProperty("ExecMainStartTimestampMonotonic")
                           .onInterface("org.freedesktop.systemd1.Service")
                           .get<std::uint64_t>();
        samples.push_back(acquired - static_cast<std::int64_t>(started));
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it settle
    }
    report("startup", samples);
    return 0;
}

// nix-env as nixos-container create runs it, from this process; its output
// goes to /dev/null. Returns the wall time in microseconds.
std::int64_t buildByHand(const std::string& nixosPath, const std::string& profileDir,
                         const std::string& module) {
    std::filesystem::create_directories(profileDir);
    const auto profile = profileDir + "/system";
    const auto config = "nixos-config=" + module;
    std::vector<const char*> argv = {"/usr/bin/nix-env",
                                     "-p",
                                     profile.c_str(),
                                     "-I",
                                     config.c_str(),
                                     "-f",
                                     nixosPath.c_str(),
                                     "--set",
                                     "-A",
                                     "system",
                                     nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    auto t0 = nowUs();
    pid_t pid = 0;
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): posix_spawn's argv is char* const*
    int rc = posix_spawn(&pid, argv[0], &actions, nullptr, const_cast<char* const*>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot run nix-env: " + std::string(std::strerror(rc)));
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("nix-env by hand failed for " + module);
    }
    return nowUs() - t0;
}

int build(const std::string& nixosPath, int iters) {
    auto connection = sdbus::createSystemBusConnection();
    auto manager = sdbus::createProxy(*connection, kService, kManagerPath);
    const std::string scratch = "/tmp/nc-bench-build-" + std::to_string(getpid());
    std::filesystem::create_directories(scratch);
    std::vector<std::int64_t> byHand;
    std::vector<std::int64_t> byService;
    auto service = [&](const std::string& tag) {
        std::map<std::string, sdbus::Variant> spec;
        spec["Config"] = sdbus::Variant(std::string("payload.message = \"service " + tag + "\";"));
        const auto name = "bench" + tag;
        sdbus::ObjectPath path;
        auto t0 = nowUs();
        manager->callMethod("Create")
            .onInterface(kManagerIf)
            .withTimeout(kLongTimeout)
            .withArguments(name, spec)
            .storeResultsTo(path);
        auto took = nowUs() - t0;
        manager->callMethod("Destroy").onInterface(kManagerIf).withTimeout(kLongTimeout).withArguments(name);
        return took;
    };
    auto hand = [&](const std::string& tag) {
        const auto module = scratch + "/hand" + tag + ".nix";
        std::ofstream(module) << "{ ... }: { payload.message = \"hand " + tag + "\"; }\n";
        const auto profileDir = scratch + "/profile" + tag;
        auto took = buildByHand(nixosPath, profileDir, module);
        std::filesystem::remove_all(profileDir);
        return took;
    };
    hand("warmup");
    service("warmup");
    for (int i = 0; i < iters; ++i) {
        const auto tag = std::to_string(i);
        if (i % 2 == 0) {
            byHand.push_back(hand(tag));
            byService.push_back(service(tag));
        } else {
            byService.push_back(service(tag));
            byHand.push_back(hand(tag));
        }
    }
    std::filesystem::remove_all(scratch);
    report("build hand", byHand);
    report("build service", byService);
    // Each round's two builds ran back to back: their difference is what the
    // service adds, with the machine's slow and fast moments shared.
    std::vector<std::int64_t> added;
    for (std::size_t i = 0; i < byHand.size(); ++i) {
        added.push_back(byService[i] - byHand[i]);
    }
    report("build added", added);
    std::printf("build hand min %lld\nbuild service min %lld\n",
                static_cast<long long>(*std::min_element(byHand.begin(), byHand.end())),
                static_cast<long long>(*std::min_element(byService.begin(), byService.end())));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return nc_bench::runReporting("nc-bench", [&] {
        std::string cmd = argc > 1 ? argv[1] : "";
        if (cmd == "reads" && argc == 4) {
            return reads(argv[2], std::atoi(argv[3]));
        }
        if (cmd == "start" && argc == 4) {
            return start(argv[2], std::atoi(argv[3]));
        }
        if (cmd == "storm" && argc >= 4) {
            return storm(std::atoi(argv[2]), std::vector<std::string>(argv + 3, argv + argc));
        }
        if (cmd == "startup" && argc == 3) {
            return startup(std::atoi(argv[2]));
        }
        if (cmd == "build" && argc == 4) {
            return build(argv[2], std::atoi(argv[3]));
        }
        std::fprintf(
            stderr,
            "usage: nc-bench reads NAME ITERS | start NAME ITERS | storm CLIENTS NAME... | startup ITERS | "
            "build NIXOS_PATH ITERS\n");
        return 2;
    });
}
