// Host-side network setup per container: our netlink layer against the
// module's own ip(8) post-start steps for the same shape
//   ip link set dev X up; ip addr add A dev X; ip route add B dev X
// (run here via fork/exec, as the module's shell does), plus veth creation
// both ways and a full prepare()+release() of a container.
//
// Runs as root in its own throwaway network and mount namespaces, so it
// leaves nothing on the host. Usage: netlink_bench [containers]  (default 200)

#include "netlink.h"
#include "netlink_container_network.h"
#include "network_namespace.h"
#include "network_plan.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace {

using namespace nixos_containers;
using Clock = std::chrono::steady_clock;

double microseconds(Clock::duration d) {
    return std::chrono::duration<double, std::micro>(d).count();
}

struct Stats {
    double median = 0;
    double mean = 0;
};

Stats stats(std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    Stats s;
    s.median = samples[samples.size() / 2];
    s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
    return s;
}

// fork/exec of ip(8), waiting for it: what one line of the module's script costs.
void ip(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    static char name[] = "ip";
    argv.push_back(name);
    for (const auto& arg : args) {
        argv.push_back(const_cast<char*>(arg.c_str()));
    }
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/usr/sbin/ip", argv.data());
        execvp("ip", argv.data());
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "ip failed\n");
        std::exit(1);
    }
}

// 10.<net>.x.y/32 pairs, distinct for each container.
std::string address(int net, int i, int end) {
    return "10." + std::to_string(net) + "." + std::to_string(i / 100) + "." +
           std::to_string((i % 100) * 2 + end);
}

void print(const char* what, const Stats& s) {
    std::printf("  %-44s median %9.1f us   mean %9.1f us\n", what, s.median, s.mean);
}

void ratio(const char* what, const Stats& ours, const Stats& theirs) {
    std::printf("  %-44s median %7.1fx      mean %7.1fx\n", what, theirs.median / ours.median,
                theirs.mean / ours.mean);
}

}  // namespace

int main(int argc, char** argv) {
    const int containers = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
        std::fprintf(stderr, "unshare: %s (run as root)\n", std::strerror(errno));
        return 1;
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
        std::perror("private mounts");
        return 1;
    }

    netlink::Socket host;
    netlink::setUp(host, netlink::findLink(host, "lo")->index);

    std::vector<double> oursCreate, ipCreate, oursSetup, ipSetup;
    for (int i = 0; i < containers; ++i) {
        const std::string ours = "bo" + std::to_string(i);
        const std::string theirs = "bi" + std::to_string(i);

        auto t0 = Clock::now();
        int index = netlink::createVeth(host, ours, ours + "p");
        auto t1 = Clock::now();
        ip({"link", "add", theirs, "type", "veth", "peer", "name", theirs + "p"});
        auto t2 = Clock::now();
        oursCreate.push_back(microseconds(t1 - t0));
        ipCreate.push_back(microseconds(t2 - t1));

        // The module's post-start steps for a /32 pair, both ways.
        t0 = Clock::now();
        netlink::setUp(host, index);
        netlink::addAddress(host, index, netlink::IpPrefix::parse(address(1, i, 1)));
        netlink::addRoute(host, index, netlink::IpPrefix::parse(address(1, i, 2)));
        t1 = Clock::now();
        ip({"link", "set", "dev", theirs, "up"});
        ip({"addr", "add", address(2, i, 1), "dev", theirs});
        ip({"route", "add", address(2, i, 2), "dev", theirs});
        t2 = Clock::now();
        oursSetup.push_back(microseconds(t1 - t0));
        ipSetup.push_back(microseconds(t2 - t1));
    }

    // Full preparation of a container (namespace, veth, both ends configured,
    // altname for a long name) and its release.
    Settings settings;
    settings.runtimeDir = "/run/netlink-bench";
    NetlinkContainerNetwork network;
    std::vector<double> prepare, release;
    const int full = std::min(containers, 50);
    for (int i = 0; i < full; ++i) {
        ContainerSpec spec;
        spec.privateNetwork = true;
        spec.network.hostAddress = address(3, i, 1);
        spec.network.localAddress = address(3, i, 2);
        auto plan = *planNetwork("bench-container-with-a-long-name-" + std::to_string(i), spec, settings);
        auto t0 = Clock::now();
        network.prepare(plan);
        auto t1 = Clock::now();
        network.release(plan);
        auto t2 = Clock::now();
        prepare.push_back(microseconds(t1 - t0));
        release.push_back(microseconds(t2 - t1));
    }

    auto oc = stats(oursCreate), ic = stats(ipCreate), os = stats(oursSetup), is = stats(ipSetup);
    std::printf("netlink_bench: %d containers (host side), %d full prepare+release\n\n", containers, full);
    std::printf("host-side up + address + route, per container:\n");
    print("netlink (this service)", os);
    print("ip(8) x3, fork/exec (the module)", is);
    ratio("ip(8) / netlink", os, is);
    std::printf("\nveth pair creation:\n");
    print("netlink", oc);
    print("ip link add ... type veth", ic);
    ratio("ip(8) / netlink", oc, ic);
    std::printf("\nfull container network (netlink):\n");
    print("prepare(): netns, veth, altname, both ends", stats(prepare));
    print("release(): delete links, unmount pin", stats(release));
    return 0;
}
