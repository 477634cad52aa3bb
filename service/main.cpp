// nixos-containersd: the org.nixos.Containers system service.
#include "bind_pin_mounts.h"
#include "bus_service.h"
#include "container_manager.h"
#include "event_loop.h"
#include "fork_process_runner.h"
#include "journal_streams.h"
#include "log.h"
#include "machined_client.h"
#include "netlink_container_network.h"
#include "polkit_authorizer.h"
#include "settings.h"
#include "systemd_client.h"
#include "worker_pool.h"

#include <sdbus-c++/sdbus-c++.h>

#include <csignal>
#include <exception>

using namespace nixos_containers;

int main() {
    // sd-event wants the signals it watches blocked (SIGCHLD for children).
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);

    try {
        auto settings = Settings::fromProcessEnvironment();
        EventLoop loop;
        loop.exitOnSignals();
        auto connection = sdbus::createSystemBusConnection();
        loop.attach(*connection);

        // Two threads: link deletion waits on the kernel (~15 ms each), and
        // more threads would only queue behind the same rtnl lock.
        WorkerPool worker(loop, 2);
        SystemdClient systemd(*connection);
        MachinedClient machines(*connection, worker);
        PolkitAuthorizer authorizer(*connection);
        NetlinkContainerNetwork network;
        BindPinMounts binds;
        ForkProcessRunner processes(loop);
        JournalStreams journal;
        BusService bus(*connection);
        ContainerManager manager(
            settings, Seams{systemd, machines, authorizer, network, binds, processes, worker, journal}, bus);
        bus.attach(manager);

        // Objects first, name last: a client that sees the name sees every
        // container with its real state.
        manager.recover([&connection, &loop, &manager, &bus](const Status& status) {
            if (!status.ok()) {
                logError(std::string("cannot recover containers: ") + status.error().what());
                loop.exit(1);
                return;
            }
            bus.announce();
            try {
                connection->requestName("org.nixos.Containers");
            } catch (const sdbus::Error& error) {
                logError("cannot own org.nixos.Containers: " + error.getMessage());
                loop.exit(1);
                return;
            }
            logInfo("org.nixos.Containers ready with " + std::to_string(manager.containers().size()) +
                    " containers");
        });
        int result = loop.run();
        worker.stop();
        return result;
    } catch (const std::exception& error) {
        logError(std::string("nixos-containersd: ") + error.what());
        return 1;
    }
}
