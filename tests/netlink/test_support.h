#pragma once

#include "netlink.h"
#include "network_plan.h"
#include "settings.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <set>
#include <string>

namespace nixos_containers::testing {

struct CommandResult {
    int status = -1;  // exit status, or -1 when it did not exit normally
    std::string output;
};
// Runs a shell command line (tests only; the service never does this).
CommandResult runCommand(const std::string& command);

// `ip -j ARGS`, inside the namespace pinned at `pin` when given.
nlohmann::json ipJson(const std::string& args, const std::filesystem::path& pin = {});

// What ip(8) reports, normalised for comparison with what we read back:
// global addresses as "A/N dev NAME", main-table routes as
// "D/N dev NAME [via G]". Link-local addresses and routes are left out:
// the kernel adds them asynchronously when the carrier comes up.
std::set<std::string> ipAddresses(const std::filesystem::path& pin = {});
std::set<std::string> ipRoutes(const std::filesystem::path& pin = {});
// The same read back over netlink with our layer.
std::set<std::string> nlAddresses(const netlink::Socket& socket);
std::set<std::string> nlRoutes(const netlink::Socket& socket);

// The state of one namespace, to prove that a test left nothing behind.
struct Snapshot {
    std::set<std::string> links, addresses, routes;
    bool operator==(const Snapshot&) const = default;
};
Snapshot snapshot(const netlink::Socket& socket);

// Each test runs in a network namespace of its own, with loopback up, and
// keeps its namespace pins in a directory of its own under the private /run.
class NetnsTest : public ::testing::Test {
protected:
    void SetUp() override;
    NetworkPlan plan(const std::string& container, ContainerSpec spec) const;
    // No pin file remains in the test's runtime directory.
    [[nodiscard]] bool noPins() const;

    Settings settings;
    std::filesystem::path runtimeDir;
    // A socket in the test's own namespace (the "host" of the test).
    std::optional<netlink::Socket> host;
};

}  // namespace nixos_containers::testing
