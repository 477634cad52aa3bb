// What the three fake peers share: their loop, the calls they record, and
// what involves more than one of them. Each peer's own part is in
// fake_systemd.cpp, fake_machined.cpp and fake_polkit.cpp.
#include "fake_peers.h"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace bus_tests {

std::string pathEncode(const std::string& prefix, const std::string& label) {
    char* raw = nullptr;
    const int result = sd_bus_path_encode(prefix.c_str(), label.c_str(), &raw);
    const std::unique_ptr<char, decltype(&std::free)> path(raw, &std::free);
    if (result < 0) {
        throw std::runtime_error("sd_bus_path_encode " + label + ": " + std::strerror(-result));
    }
    return path.get();
}

std::optional<std::string> pathDecode(const std::string& path, const std::string& prefix) {
    char* raw = nullptr;
    const int result = sd_bus_path_decode(path.c_str(), prefix.c_str(), &raw);
    const std::unique_ptr<char, decltype(&std::free)> label(raw, &std::free);
    if (result < 0) {
        throw std::runtime_error("sd_bus_path_decode " + path + ": " + std::strerror(-result));
    }
    return result == 0 ? std::nullopt : std::optional<std::string>(label.get());
}

FakePeers::FakePeers(const std::string& address, PeerOptions options) : options_(options), loop_(address) {
    loop_.run([this] {
        if (options_.systemd) {
            registerSystemd();
            loop_.connection().requestName("org.freedesktop.systemd1");
        }
        if (options_.machined) {
            registerMachined();
            loop_.connection().requestName("org.freedesktop.machine1");
        }
        if (options_.polkit) {
            registerPolkit();
            loop_.connection().requestName("org.freedesktop.PolicyKit1");
        }
    });
}

FakePeers::~FakePeers() {
    // Once the thread is gone, the objects can be dropped from this one.
    loop_.stop();
}

void FakePeers::addRunningUnit(const std::string& unit, const std::string& machine, std::uint32_t leader) {
    loop_.run([this, unit, machine, leader] {
        setUnitState(unit, "active", "running");
        addMachine(machine, unit, leader);
    });
}

void FakePeers::terminateFromOutside(const std::string& machine) {
    loop_.run([this, machine] {
        std::string unit;
        {
            std::lock_guard lock(mutex_);
            if (auto found = machines_.find(machine); found != machines_.end()) {
                unit = found->second.unit;
            }
        }
        removeMachine(machine);
        if (!unit.empty()) {
            setUnitState(unit, "inactive", "dead");
        }
    });
}

std::vector<std::string> FakePeers::managerCalls() const {
    std::lock_guard lock(mutex_);
    return calls_;
}

void FakePeers::note(const std::string& call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(call);
}

}  // namespace bus_tests
