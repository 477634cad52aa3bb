#include "test_support.h"

#include <sched.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>

namespace nixos_containers::testing {

namespace {

std::string withPrefix(const std::string& address, int family) {
    if (address.find('/') != std::string::npos) {
        return address;
    }
    return address + (family == AF_INET6 || address.find(':') != std::string::npos ? "/128" : "/32");
}

bool linkLocal(const std::string& prefix) {
    return prefix.rfind("fe80:", 0) == 0;
}

std::map<int, std::string> linkNames(const netlink::Socket& socket) {
    std::map<int, std::string> names;
    for (const auto& link : netlink::listLinks(socket)) {
        names[link.index] = link.name;
    }
    return names;
}

}  // namespace

CommandResult runCommand(const std::string& command) {
    CommandResult result;
    std::unique_ptr<FILE, decltype(&pclose)> pipe(nullptr, &pclose);
    FILE* raw = popen((command + " 2>&1").c_str(), "r");
    if (raw == nullptr) {
        return result;
    }
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), raw)) > 0) {
        result.output.append(buffer.data(), n);
    }
    int status = pclose(raw);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

nlohmann::json ipJson(const std::string& args, const std::filesystem::path& pin) {
    std::string command = pin.empty() ? "" : "nsenter --net=" + pin.string() + " ";
    auto result = runCommand(command + "ip -j " + args);
    if (result.status != 0) {
        ADD_FAILURE() << "ip -j " << args << ": " << result.output;
        return nlohmann::json::array();
    }
    return nlohmann::json::parse(result.output);
}

std::set<std::string> ipAddresses(const std::filesystem::path& pin) {
    std::set<std::string> addresses;
    for (const auto& link : ipJson("addr show", pin)) {
        for (const auto& info : link.value("addr_info", nlohmann::json::array())) {
            std::string prefix =
                info.at("local").get<std::string>() + "/" + std::to_string(info.at("prefixlen").get<int>());
            if (!linkLocal(prefix)) {
                addresses.insert(prefix + " dev " + link.at("ifname").get<std::string>());
            }
        }
    }
    return addresses;
}

std::set<std::string> ipRoutes(const std::filesystem::path& pin) {
    std::set<std::string> routes;
    for (const char* family : {"-4", "-6"}) {
        for (const auto& route : ipJson(std::string(family) + " route show table main", pin)) {
            std::string dst = route.at("dst").get<std::string>();
            int fam = std::string(family) == "-6" ? AF_INET6 : AF_INET;
            dst = dst == "default" ? (fam == AF_INET ? "0.0.0.0/0" : "::/0") : withPrefix(dst, fam);
            if (linkLocal(dst)) {
                continue;
            }
            std::string line = dst + " dev " + route.value("dev", std::string("-"));
            if (route.contains("gateway")) {
                line += " via " + route.at("gateway").get<std::string>();
            }
            routes.insert(line);
        }
    }
    return routes;
}

std::set<std::string> nlAddresses(const netlink::Socket& socket) {
    auto names = linkNames(socket);
    std::set<std::string> addresses;
    for (const auto& address : netlink::listAddresses(socket)) {
        if (!linkLocal(address.address.str())) {
            addresses.insert(address.address.str() + " dev " + names[address.index]);
        }
    }
    return addresses;
}

std::set<std::string> nlRoutes(const netlink::Socket& socket) {
    auto names = linkNames(socket);
    std::set<std::string> routes;
    for (const auto& route : netlink::listRoutes(socket)) {
        std::string dst = route.destination.str();
        if (linkLocal(dst)) {
            continue;
        }
        std::string line = dst + " dev " + (route.index != 0 ? names[route.index] : "-");
        if (route.gateway) {
            line += " via " + route.gateway->address();
        }
        routes.insert(line);
    }
    return routes;
}

Snapshot snapshot(const netlink::Socket& socket) {
    Snapshot state;
    for (const auto& link : netlink::listLinks(socket)) {
        std::string line = link.name + " " + link.kind;
        for (const auto& alt : link.altNames) {
            line += " alt:" + alt;
        }
        state.links.insert(line);
    }
    state.addresses = nlAddresses(socket);
    state.routes = nlRoutes(socket);
    return state;
}

void NetnsTest::SetUp() {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET)";
    host.emplace();
    auto loopback = netlink::findLink(*host, "lo");
    ASSERT_TRUE(loopback);
    netlink::setUp(*host, loopback->index);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    runtimeDir = std::filesystem::path("/run/nc-netlink-tests") /
                 (std::string(info->test_suite_name()) + "." + info->name());
    std::filesystem::remove_all(runtimeDir);
    std::filesystem::create_directories(runtimeDir);
    settings.runtimeDir = runtimeDir;
}

NetworkPlan NetnsTest::plan(const std::string& container, ContainerSpec spec) const {
    spec.privateNetwork = true;
    return *planNetwork(container, spec, settings);
}

bool NetnsTest::noPins() const {
    auto pins = runtimeDir / "netns";
    return !std::filesystem::exists(pins) || std::filesystem::is_empty(pins);
}

}  // namespace nixos_containers::testing
