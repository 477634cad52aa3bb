// The per-container work of the service's startup, without D-Bus: loading
// every NAME.conf (ContainerStore::loadAll), publishing each container and
// taking in the (empty) lists of units and machines (ContainerManager::recover),
// and the helpers publish calls. Not a test.
//
//   startup-bench [COUNT [ROUNDS]]
//
// Prints the best wall-clock time per part over ROUNDS rounds. Under
// `valgrind --tool=callgrind` each part is dumped on its own
// (callgrind.out.PID.N, with the part's name in its "desc: Trigger" line).
#include "conf_file.h"
#include "container_manager.h"
#include "container_paths.h"
#include "container_store.h"
#include "fake_seams.h"
#include "network_plan.h"
#include "temp_settings.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(label)
#endif

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace nc = nixos_containers;
namespace fs = std::filesystem;

namespace {

std::string nameOf(int index) {
    return "bench" + std::to_string(index);
}

double bestMs(int rounds, const char* label, const std::function<void()>& part) {
    double best = 1e9;
    for (int round = 0; round < rounds; ++round) {
        CALLGRIND_ZERO_STATS;
        auto start = std::chrono::steady_clock::now();
        part();
        auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
        CALLGRIND_DUMP_STATS_AT(label);
        best = std::min(best, elapsed.count());
    }
    std::printf("%-34s %8.3f ms\n", label, best);
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const int count = argc > 1 ? std::atoi(argv[1]) : 1000;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;

    char pattern[] = "/tmp/nc-startup-bench.XXXXXX";
    const fs::path dir = ::mkdtemp(pattern);
    const nc::Settings settings = nc::settingsUnder(dir);
    for (const auto& made : {settings.configDir, settings.storeDir, settings.declarativeUnitDirs[0]}) {
        fs::create_directories(made);
    }

    // What Create writes for an evaluated system on a private network.
    const std::string system =
        (settings.storeDir / "0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p-nixos-system-web").string();
    std::vector<nc::ContainerSpec> specs;
    for (int i = 0; i < count; ++i) {
        nc::ContainerSpec spec;
        spec.systemPath = system;
        spec.privateNetwork = true;
        spec.network.hostAddress = "10.233." + std::to_string(i % 256) + ".1";
        spec.network.localAddress = "10.233." + std::to_string(i % 256) + ".2";
        const auto name = nameOf(i);
        std::ofstream(settings.configDir / (name + ".conf"))
            << nc::confFromSpec(spec, {}, settings.configDir / (name + ".nix")).serialize();
        specs.push_back(std::move(spec));
    }

    nc::ContainerStore store(settings);
    bestMs(rounds, "loadAll", [&] {
        std::vector<std::string> problems;
        auto entries = store.loadAll(problems);
        if (entries.size() != static_cast<std::size_t>(count) || !problems.empty()) {
            std::fprintf(stderr, "loadAll: %zu entries, %zu problems\n", entries.size(), problems.size());
            std::exit(1);
        }
    });
    // The tests' fakes: no units, no machines, so every container is stopped
    // and has its (fake) network released.
    nc::Deferred loop;
    nc::FakeSystemd systemd{loop};
    nc::FakeMachines machines{loop};
    nc::FakeAuthorizer authorizer{loop};
    nc::FakeNetwork network;
    nc::FakeBindPins binds;
    nc::FakeProcesses processes{loop};
    nc::FakeWorker worker{loop};
    nc::FakeJournal journal;
    nc::RecordingObserver observer;
    bestMs(rounds, "recover (loadAll, publish, states)", [&] {
        nc::ContainerManager manager(
            settings, {systemd, machines, authorizer, network, binds, processes, worker, journal}, observer);
        manager.recover([](const nc::Status&) {});
        loop.drain();
        network.events.clear();
        observer = {};
        if (manager.containers().size() != static_cast<std::size_t>(count)) {
            std::fprintf(stderr, "recover: %zu containers\n", manager.containers().size());
            std::exit(1);
        }
    });
    bestMs(rounds, "containerPaths", [&] {
        for (int i = 0; i < count; ++i) {
            auto paths = nc::containerPaths(settings, nameOf(i), false);
            asm volatile("" : : "r"(&paths) : "memory");
        }
    });
    bestMs(rounds, "locateSystem", [&] {
        for (int i = 0; i < count; ++i) {
            auto location = nc::locateSystem(settings, specs[i].systemPath);
            asm volatile("" : : "r"(&location) : "memory");
        }
    });
    bestMs(rounds, "planNetwork + planned addresses", [&] {
        for (int i = 0; i < count; ++i) {
            auto plan = nc::planNetwork(nameOf(i), specs[i], settings);
            auto addresses = nc::plannedContainerAddresses(specs[i]);
            asm volatile("" : : "r"(&plan), "r"(&addresses) : "memory");
        }
    });

    fs::remove_all(dir);
    return 0;
}
