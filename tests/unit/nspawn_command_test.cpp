// The argv and unit properties checked against the module's startScript and
// serviceDirectives (shared/reference/nixos-containers.nix).
#include "nspawn_command.h"
#include "container_paths.h"
#include "nspawn_options.h"
#include "transient_unit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace nixos_containers {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

class NspawnCommandTest : public ::testing::Test {
protected:
    NspawnCommandTest() {
        settings.storeDir = "/srv/store";
        settings.nspawn = "/usr/bin/systemd-nspawn";
        spec.systemPath = "/nix/store/abc-system";
    }

    std::vector<std::string> argv(std::optional<NetworkPlan> network = std::nullopt) {
        NspawnInputs inputs;
        inputs.name = "web";
        inputs.spec = &spec;
        inputs.paths = containerPaths(settings, "web", spec.ephemeral);
        inputs.systemInContainer = "/nix/store/abc-system";
        inputs.network = std::move(network);
        return buildNspawnArgv(settings, inputs);
    }

    Settings settings;
    ContainerSpec spec;
};

TEST_F(NspawnCommandTest, StartsWithTheModulesFixedFlags) {
    auto args = argv();
    ASSERT_GE(args.size(), 6U);
    EXPECT_THAT(std::vector<std::string>(args.begin(), args.begin() + 6),
                ElementsAre("/usr/bin/systemd-nspawn", "--keep-unit", "-M", "web", "-D",
                            "/var/lib/nixos-containers/web"));
    EXPECT_THAT(args, Contains("--notify-ready=yes"));
    EXPECT_THAT(args, Contains("--kill-signal=SIGRTMIN+3"));
    EXPECT_THAT(args, Contains("--bind-ro=/srv/store:/nix/store"));
    EXPECT_THAT(args, Contains("--bind=/nix/var/nix/profiles/per-container/web:/nix/var/nix/profiles"));
    EXPECT_THAT(args, Contains("--bind=/nix/var/nix/gcroots/per-container/web:/nix/var/nix/gcroots"));
    EXPECT_THAT(args, Contains("--link-journal=try-guest"));
    EXPECT_EQ(args.back(), "/nix/store/abc-system/init");
}

TEST_F(NspawnCommandTest, PrivateUsersGivesAUserNamespaceAndIdmapsTheServicesNixBinds) {
    EXPECT_THAT(argv(), Not(Contains(::testing::StartsWith("--private-users"))));
    for (const std::string mode : {"pick", "65536"}) {
        SCOPED_TRACE(mode);
        spec.privateUsers = mode;
        auto args = argv();
        EXPECT_THAT(args, Contains("--private-users=" + mode));
        EXPECT_THAT(args, Contains("--private-users-ownership=auto"));
        EXPECT_THAT(args, Contains("--bind-ro=/srv/store:/nix/store:idmap"));
        EXPECT_THAT(args,
                    Contains("--bind=/nix/var/nix/profiles/per-container/web:/nix/var/nix/profiles:idmap"));
        EXPECT_THAT(args,
                    Contains("--bind=/nix/var/nix/gcroots/per-container/web:/nix/var/nix/gcroots:idmap"));
        EXPECT_FALSE(nspawnArgvProblem(args).has_value());
    }
    spec.privateUsers = "identity";  // uids map to themselves: nothing to idmap
    auto args = argv();
    EXPECT_THAT(args, Contains("--private-users=identity"));
    EXPECT_THAT(args, Contains("--bind-ro=/srv/store:/nix/store"));
}

TEST_F(NspawnCommandTest, PassesTheModulesEnvironmentAsSeparateWords) {
    spec.privateNetwork = true;
    spec.network.hostAddress = "10.233.0.1";
    spec.forwardPorts = {{"tcp", 8080, 80}, {"udp", 53, 0}};
    auto args = argv();
    auto setenv = std::find(args.begin(), args.end(), "HOST_ADDRESS=10.233.0.1");
    ASSERT_NE(setenv, args.end());
    EXPECT_EQ(*(setenv - 1), "--setenv");
    EXPECT_THAT(args, Contains("PRIVATE_NETWORK=1"));
    EXPECT_THAT(args, Contains("HOST_PORT=tcp:8080:80,udp:53:53"));
}

TEST_F(NspawnCommandTest, ANetworkNamespaceOfTheHostsIsJoinedByPath) {
    spec.networkNamespace = "/run/netns/blue";
    EXPECT_THAT(argv(), Contains("--network-namespace-path=/run/netns/blue"));
    EXPECT_THAT(argv(), Not(Contains("--private-network")));
}

TEST_F(NspawnCommandTest, WithoutCopyResolvConfNspawnLeavesResolvConfAlone) {
    EXPECT_THAT(argv(), Not(Contains("--resolv-conf=off")));
    spec.copyResolvConf = false;
    spec.extraFlags = {"--resolv-conf=bind-static"};
    auto args = argv();
    auto off = std::find(args.begin(), args.end(), "--resolv-conf=off");
    ASSERT_NE(off, args.end());
    // Before the caller's own ExtraFlags, which nspawn reads last.
    EXPECT_LT(off, std::find(args.begin(), args.end(), "--resolv-conf=bind-static"));
}

TEST_F(NspawnCommandTest, PreparedNetworkIsPassedAsANamespaceAndPortsNeedPrivateNetwork) {
    spec.privateNetwork = true;
    spec.forwardPorts = {{"tcp", 8080, 0}};
    NetworkPlan plan;
    plan.netnsPin = "/run/nixos-containers/netns/web";
    auto args = argv(plan);
    EXPECT_THAT(args, Contains("--network-namespace-path=/run/nixos-containers/netns/web"));
    // nspawn 252: "Cannot use --port= without private networking".
    EXPECT_THAT(args, Contains("--private-network"));
    EXPECT_THAT(args, Contains("--port=tcp:8080:8080"));
    EXPECT_THAT(args, Not(Contains("--network-veth")));
}

TEST_F(NspawnCommandTest, PrivateNetworkWithoutPortsNeedsNoPrivateNetworkFlagNextToTheNamespace) {
    spec.privateNetwork = true;
    NetworkPlan plan;
    plan.netnsPin = "/run/x";
    EXPECT_THAT(argv(plan), Not(Contains("--private-network")));
}

// nspawn 252 would join a --network-namespace-path from inside its new user
// namespace (EPERM): the unit starts it inside the namespace instead.
TEST_F(NspawnCommandTest, AUserNamespacedContainersNetworkNamespaceComesFromItsUnit) {
    NetworkPlan plan;
    plan.netnsPin = "/run/nixos-containers/netns/web";
    spec.privateNetwork = true;
    EXPECT_EQ(unitNetworkNamespace(spec, plan), "");
    EXPECT_THAT(argv(plan), Not(Contains("--resolv-conf=off")));

    spec.privateUsers = "pick";
    EXPECT_EQ(unitNetworkNamespace(spec, plan), "/run/nixos-containers/netns/web");
    auto args = argv(plan);
    EXPECT_THAT(args, Not(Contains(::testing::StartsWith("--network-namespace-path"))));
    EXPECT_THAT(args, Not(Contains("--private-network")));
    // nspawn takes it for the host's network; its "auto" would bind the
    // host's stub resolver over the copy the service made.
    EXPECT_THAT(args, Contains("--resolv-conf=off"));
    EXPECT_THAT(args, Contains("PRIVATE_NETWORK=1"));

    TransientUnitInputs inputs;
    inputs.name = "web";
    inputs.spec = &spec;
    inputs.nspawnArgv = args;
    inputs.networkNamespacePath = unitNetworkNamespace(spec, plan);
    EXPECT_EQ(buildTransientUnit(inputs).networkNamespacePath, "/run/nixos-containers/netns/web");

    // A namespace of the host's, named by the caller, goes the same way.
    spec = {};
    spec.systemPath = "/nix/store/abc-system";
    spec.privateUsers = "65536";
    spec.networkNamespace = "/run/netns/blue";
    EXPECT_EQ(unitNetworkNamespace(spec, std::nullopt), "/run/netns/blue");
    EXPECT_THAT(argv(), Not(Contains(::testing::StartsWith("--network-namespace-path"))));
    // On the host's network there is nothing to start inside.
    spec.networkNamespace.clear();
    EXPECT_EQ(unitNetworkNamespace(spec, std::nullopt), "");
}

TEST_F(NspawnCommandTest, BindsTmpfsCapabilitiesEphemeralAndExtraFlags) {
    spec.bindMounts = {{"/mnt", "/home/alice", false}, {"/data", "", true}};
    spec.tmpfs = {"/var", "/tmp:mode=1777"};
    spec.additionalCapabilities = {"CAP_MKNOD"};
    spec.enableTun = true;
    spec.ephemeral = true;
    spec.extraFlags = {"--drop-capability=CAP_SYS_CHROOT"};
    auto args = argv();
    EXPECT_THAT(args, Contains("--bind=/home/alice:/mnt"));
    EXPECT_THAT(args, Contains("--bind-ro=/data"));
    EXPECT_THAT(args, Contains("--tmpfs=/var"));
    EXPECT_THAT(args, Contains("--tmpfs=/tmp:mode=1777"));
    EXPECT_THAT(args, Contains("--capability=CAP_MKNOD,CAP_NET_ADMIN"));
    EXPECT_THAT(args, Contains("--ephemeral"));
    EXPECT_THAT(args, Not(Contains("--link-journal=try-guest")));
    EXPECT_THAT(args, Contains("--drop-capability=CAP_SYS_CHROOT"));
    // Extra flags go before the module's fixed flags, as $EXTRA_NSPAWN_FLAGS does.
    auto extra = std::find(args.begin(), args.end(), "--drop-capability=CAP_SYS_CHROOT");
    auto notify = std::find(args.begin(), args.end(), "--notify-ready=yes");
    EXPECT_LT(extra, notify);
}

TEST(TransientUnitTest, CarriesTheModulesServiceDirectives) {
    ContainerSpec spec;
    spec.timeoutStartSec = "2min";
    spec.allowedDevices = {{"/dev/fuse", "rwm"}};
    spec.enableTun = true;
    TransientUnitInputs inputs;
    inputs.name = "web";
    inputs.spec = &spec;
    inputs.root = "/var/lib/nixos-containers/web";
    inputs.nspawnArgv = {"/usr/bin/systemd-nspawn", "-M", "web"};
    auto unit = buildTransientUnit(inputs);
    EXPECT_EQ(unit.name, "nixos-container@web.service");
    EXPECT_EQ(unit.type, "notify");
    EXPECT_EQ(unit.slice, "machine.slice");
    EXPECT_TRUE(unit.delegate);
    EXPECT_EQ(unit.killMode, "mixed");
    EXPECT_EQ(unit.killSignal, 15);
    EXPECT_THAT(unit.successExitStatus, ElementsAre(133));
    EXPECT_THAT(unit.restartForceExitStatus, ElementsAre(133));
    EXPECT_EQ(unit.timeoutStartUsec, 120'000'000U);
    EXPECT_TRUE(unit.limits.empty());
    spec.memoryMax = "64M";
    spec.cpuQuota = "150%";
    spec.tasksMax = "infinity";
    EXPECT_EQ(buildTransientUnit(inputs).limits,
              (std::vector<UnitProperty>{
                  {"MemoryMax", 64U << 20}, {"CPUQuotaPerSecUSec", 1'500'000}, {"TasksMax", UINT64_MAX}}));
    EXPECT_EQ(unit.devicePolicy, "closed");
    EXPECT_THAT(unit.deviceAllow, ElementsAre(std::pair<std::string, std::string>{"/dev/fuse", "rwm"},
                                              std::pair<std::string, std::string>{"/dev/net/tun", "rw"}));
    EXPECT_THAT(unit.requiresMountsFor, ElementsAre("/var/lib/nixos-containers/web"));
    EXPECT_TRUE(unit.runtimeDirectory.empty());
    EXPECT_EQ(unit.execStart, inputs.nspawnArgv);
}

TEST(TransientUnitTest, EphemeralRootUnderRunIsARuntimeDirectory) {
    ContainerSpec spec;
    spec.ephemeral = true;
    TransientUnitInputs inputs;
    inputs.name = "web";
    inputs.spec = &spec;
    inputs.root = "/run/nixos-containers/roots/web";
    inputs.nspawnArgv = {"/usr/bin/systemd-nspawn"};
    auto unit = buildTransientUnit(inputs);
    EXPECT_THAT(unit.runtimeDirectory, ElementsAre("nixos-containers/roots/web"));
    EXPECT_TRUE(unit.requiresMountsFor.empty());
}

}  // namespace
}  // namespace nixos_containers
