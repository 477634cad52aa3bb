#include "spec_validation.h"
#include "validation.h"
#include "conf_file.h"
#include "errors.h"
#include "spec_keys.h"

#include "expect_error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;

// ---- names -----------------------------------------------------------------

TEST(ValidateName, AcceptsMachineNames) {
    for (const char* name : {"web", "a", "A-b9", "container-1", "x--y", "9lives", "averyveryverylongname"}) {
        EXPECT_NO_THROW(validateName(name)) << name;
    }
    // Longer than 11 is fine: host interface names are derived elsewhere.
    EXPECT_NO_THROW(validateName(std::string(kMaxNameLength, 'a')));
}

// nixos-container accepted '_' (and a trailing '-'); systemd-nspawn refuses
// both in a machine name, so Create does too (issue 16).
TEST(ValidateName, RefusesWhatNspawnRefusesAsAMachineName) {
    expectInvalid([] { validateName("a_b"); },
                  "name 'a_b' contains '_', which systemd-nspawn refuses in a machine name");
    expectInvalid([] { validateName("_hidden"); }, "contains '_'");
    expectInvalid([] { validateName("x-"); }, "name 'x-' ends with '-', which systemd-nspawn refuses");
    EXPECT_FALSE(isMachineName("a_b"));
    EXPECT_FALSE(isMachineName("x-"));
    EXPECT_TRUE(isMachineName("a-b"));
}

// Containers that exist already keep nixos-container's rule, so that they
// can still be listed, stopped and destroyed.
TEST(ValidateName, ExistingNamesKeepNixosContainersRule) {
    for (const char* name : {"web", "A-b_9", "container_1", "x-", "_hidden"}) {
        EXPECT_NO_THROW(validateExistingName(name)) << name;
    }
    expectInvalid([] { validateExistingName("a.b"); }, "name 'a.b' contains '.'");
    expectInvalid([] { validateExistingName("-x"); }, "starts with '-'");
}

struct NameCase {
    std::string name;
    std::string fragment;
};

TEST(ValidateName, RejectsBadNamesWithNamedMessages) {
    const std::vector<NameCase> cases = {
        {"", "name '' is empty"},
        {"a/b", "name 'a/b' contains '/'"},
        {"-x", "name '-x' starts with '-'"},
        {"a.b", "name 'a.b' contains '.'"},
        {"a b", "name 'a b' contains ' '"},
        {"a:b", "contains ':'"},
        {"a@b", "contains '@'"},
        {"..", "contains '.'"},
        {"caf\xc3\xa9", "contains '\\xc3'"},
        {std::string("a\0b", 3), "contains '\\x00'"},
        {"a\nb", "contains '\\x0a'"},
        {std::string(70, 'X'), "is 70 characters long; the limit is 64"},
        {std::string(65, 'a'), "is 65 characters long"},
    };
    for (const auto& testCase : cases) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& name = testCase.name;
        const auto& fragment = testCase.fragment;
        SCOPED_TRACE(name);
        expectInvalid([&] { validateName(name); }, fragment);
    }
}

TEST(ValidateName, LongNameMessageStaysShort) {
    try {
        validateName(std::string(100000, 'a'));
        FAIL();
    } catch (const ContainerError& error) {
        EXPECT_LT(std::string(error.what()).size(), 200u);
        EXPECT_NE(std::string(error.what()).find("100000 characters long"), std::string::npos);
    }
}

// ---- interface names -------------------------------------------------------

TEST(ValidateInterfaceName, FifteenBytesAndNoSeparators) {
    EXPECT_NO_THROW(validateInterfaceName("HostBridge", "br0"));
    EXPECT_NO_THROW(validateInterfaceName("HostBridge", std::string(15, 'a')));
    EXPECT_NO_THROW(validateInterfaceName("HostBridge", "ve-web.10"));
    const std::vector<NameCase> cases = {
        {"", "HostBridge '' is empty"},
        {std::string(16, 'a'), "is 16 bytes long"},
        {"a/b", "HostBridge 'a/b' contains '/'"},
        {"a:b", "contains ':'"},
        {"a b", "contains whitespace"},
        {"a\tb", "contains whitespace"},
        {".", "is not an interface name"},
        {"..", "is not an interface name"},
        {"a,b", "contains ','"},
        {"a\"b", "contains '\"'"},
    };
    for (const auto& testCase : cases) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& name = testCase.name;
        const auto& fragment = testCase.fragment;
        SCOPED_TRACE(name);
        expectInvalid([&] { validateInterfaceName("HostBridge", name); }, fragment);
    }
}

// ---- time spans ------------------------------------------------------------

TEST(ParseMemoryBytes, SystemdSizes) {
    EXPECT_EQ(parseMemoryBytes("4096"), 4096U);
    EXPECT_EQ(parseMemoryBytes("64K"), 64U << 10);
    EXPECT_EQ(parseMemoryBytes("64M"), 64U << 20);
    EXPECT_EQ(parseMemoryBytes("2G"), 2ULL << 30);
    EXPECT_EQ(parseMemoryBytes("1T"), 1ULL << 40);
    EXPECT_EQ(parseMemoryBytes("infinity"), std::numeric_limits<std::uint64_t>::max());
    for (const auto* bad : {"", "0", "-1", "64m", "64MB", "1.5G", "G", " 64M", "64M ", "99999999999T"}) {
        EXPECT_THROW(parseMemoryBytes(bad), ContainerError) << bad;
    }
}

TEST(ParseTimespan, SystemdUnits) {
    constexpr std::uint64_t s = 1000000;
    const std::vector<std::pair<std::string, std::uint64_t>> cases = {
        {"90", 90 * s},
        {"0", 0},
        {"90s", 90 * s},
        {"90 s", 90 * s},
        {"1min", 60 * s},
        {"1min 30s", 90 * s},
        {"1min30s", 90 * s},
        {" 2m ", 120 * s},
        {"1h", 3600 * s},
        {"1hr", 3600 * s},
        {"2d", std::uint64_t{2} * 86400 * s},
        {"1w", std::uint64_t{7} * 86400 * s},
        {"500ms", 500000},
        {"10us", 10},
        {"10usec", 10},
        {"1.5s", 1500000},
        {".5s", 500000},
        {"1.5", 1500000},
        {"1sec", s},
        {"3 seconds", 3 * s},
        {"1h 1min 1s 1ms 1us", 3661 * s + 1001},
        {"infinity", std::numeric_limits<std::uint64_t>::max()},
        {"1M", 2629800 * s},
        {"1y", 31557600 * s},
    };
    for (const auto& testCase : cases) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& text = testCase.first;
        const auto& usec = testCase.second;
        SCOPED_TRACE(text);
        EXPECT_EQ(parseTimespanUsec(text), usec);
    }
}

TEST(ParseTimespan, RejectsGarbage) {
    const std::vector<NameCase> cases = {
        {"", "'' is not a time span"},
        {"   ", "is not a time span"},
        {"abc", "'abc' is not a time span"},
        {"1 fortnight", "unknown unit 'fortnight'"},
        {"-1s", "is not a time span"},
        {"1s-", "is not a time span"},
        {"s", "is not a time span"},
        {".", "is not a time span"},
        {"99999999999999999999", "too large"},
        {"999999999999y", "too large"},
        {"infinity 1s", "is not a time span"},
        {"1min\n", ""},  // trailing whitespace is fine: checked separately below
    };
    for (const auto& testCase : cases) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& text = testCase.name;
        const auto& fragment = testCase.fragment;
        SCOPED_TRACE(text);
        if (fragment.empty()) {
            EXPECT_NO_THROW(parseTimespanUsec(text));
            continue;
        }
        expectInvalid([&] { parseTimespanUsec(text); }, fragment);
    }
}

// ---- whole specs -----------------------------------------------------------

// A private store with one system that has an `init`.
class ValidateSpec : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "validation-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
        settings_.storeDir = root_ / "store";
        fs::create_directories(settings_.storeDir / "aaaa-nixos-system-web");
        std::ofstream(settings_.storeDir / "aaaa-nixos-system-web" / "init") << "#!/bin/sh\n";
        fs::create_directories(settings_.storeDir / "bbbb-no-init");
        fs::create_directories(root_ / "profiles");
        fs::create_directory_symlink(settings_.storeDir / "aaaa-nixos-system-web",
                                     root_ / "profiles" / "system");
    }
    void TearDown() override { fs::remove_all(root_); }

    ContainerSpec validSpec() const {
        ContainerSpec spec;
        spec.systemPath = (settings_.storeDir / "aaaa-nixos-system-web").string();
        return spec;
    }
    // Everything set, and valid.
    ContainerSpec richSpec() const {
        ContainerSpec spec = validSpec();
        spec.privateNetwork = true;
        spec.network = {"10.233.1.1", "10.233.1.2/24", "fc00::1", "fc00::2/64", ""};
        spec.forwardPorts = {{"tcp", 8080, 80}, {"udp", 53, 0}, {"udp", 8080, 8080}};
        spec.bindMounts = {{"/mnt", "/host", true}, {"/data", "", false}};
        spec.tmpfs = {"/var", "/tmp:mode=1777,size=10%"};
        spec.additionalCapabilities = {"CAP_NET_ADMIN", "CAP_MKNOD", "CAP_CHECKPOINT_RESTORE"};
        spec.allowedDevices = {{"/dev/net/tun", "rw"}, {"/dev/fuse", "rwm"}, {"/dev/kvm", "m"}};
        spec.enableTun = true;
        spec.ephemeral = true;
        spec.autoStart = true;
        spec.timeoutStartSec = "1min 30s";
        spec.extraVeths = {{"ve-a", {"10.1.0.1", "10.1.0.2", "", "", ""}}, {"ve-b", {"", "", "", "", "br1"}}};
        spec.interfaces = {"eth1", "eth2"};
        spec.macvlans = {"enp3s0"};
        spec.extraFlags = {"--drop-capability=CAP_SYS_CHROOT", "--resolv-conf=bind-host",
                           "--setenv=LANG=C.UTF-8", "--rlimit=RLIMIT_NOFILE=4096", "--bind=/a:/b:norbind"};
        return spec;
    }

    // What validation accepts, the store can write and read back unchanged
    // (up to the module's spelling of containerPort 0 as the host port, and
    // Config text, which lives in its own file).
    static void expectStoredUnchanged(ContainerSpec spec) {
        try {
            auto conf = confFromSpec(spec, {}, "/etc/nixos-containers/x.nix");
            auto reread = specFromConf(EnvFile::parse(conf.serialize()));
            for (auto& port : spec.forwardPorts) {
                if (port.containerPort == 0)
                    port.containerPort = port.hostPort;
            }
            spec.config.clear();
            EXPECT_EQ(reread, spec);
        } catch (const std::exception& error) {
            ADD_FAILURE() << "a valid spec does not survive the conf: " << error.what();
        }
    }

    fs::path root_;
    Settings settings_;
};

// Every string and list of every key is bounded, Config more generously;
// at the limit a value passes, one beyond it is LimitsExceeded.
TEST_F(ValidateSpec, EveryStringAndListHasASizeLimit) {
    auto limited = [this](const ContainerSpec& spec, const std::string& fragment) {
        try {
            validateSpec(spec, settings_);
            ADD_FAILURE() << "accepted; expected LimitsExceeded containing \"" << fragment << "\"";
        } catch (const ContainerError& error) {
            EXPECT_EQ(error.code(), ErrorCode::LimitsExceeded) << error.what();
            EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
        }
    };
    ContainerSpec spec;
    spec.config = std::string(kMaxConfigBytes, ' ');
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec.config.push_back(' ');
    limited(spec, "Config has a value of 1048577 bytes; the limit is 1048576");

    spec = validSpec();
    spec.tmpfs.clear();
    for (std::size_t i = 0; i < kMaxSpecListEntries; ++i) {
        spec.tmpfs.push_back("/t" + std::to_string(i));
    }
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec.tmpfs.push_back("/one-more");
    limited(spec, "Tmpfs has 257 entries; the limit is 256");

    spec = validSpec();
    spec.bindMounts = {BindMount{"/" + std::string(kMaxSpecStringBytes, 'a'), "", true}};
    limited(spec, "BindMounts has a value of 4097 bytes; the limit is 4096");
    spec = validSpec();
    spec.extraVeths["ve1"].hostAddress = std::string(kMaxSpecStringBytes + 1, '1');
    limited(spec, "ExtraVeths has a value of 4097 bytes");
    spec = validSpec();
    spec.systemPath = "/nix/store/" + std::string(kMaxSpecStringBytes, 'a');
    limited(spec, "SystemPath has a value of");
}

TEST_F(ValidateSpec, AcceptsValidSpecs) {
    EXPECT_NO_THROW(validateSpec(validSpec(), settings_));
    EXPECT_NO_THROW(validateSpec(richSpec(), settings_));
    expectStoredUnchanged(richSpec());

    ContainerSpec spec;
    spec.config = "services.nginx.enable = true;";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec = {};
    spec.configFile = (root_ / "web.nix").string();
    std::ofstream(root_ / "web.nix") << "{ }\n";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec = {};
    spec.flake = "github:alice/containers#web";
    EXPECT_NO_THROW(validateSpec(spec, settings_));

    // The container's view of the store is accepted too, and so is a
    // profile link into the store.
    spec = {};
    spec.systemPath = "/nix/store/aaaa-nixos-system-web";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec.systemPath = (root_ / "profiles" / "system").string();
    EXPECT_NO_THROW(validateSpec(spec, settings_));

    // A bridge with local addresses, as the module allows.
    spec = validSpec();
    spec.privateNetwork = true;
    spec.network.hostBridge = "br0";
    spec.network.localAddress = "192.168.1.50/24";
    spec.network.localAddress6 = "2001:db8::50/64";
    EXPECT_NO_THROW(validateSpec(spec, settings_));

    spec = validSpec();
    spec.additionalCapabilities = {"all"};
    spec.timeoutStartSec = "infinity";
    EXPECT_NO_THROW(validateSpec(spec, settings_));

    // A user namespace with a private network (nspawn runs inside it), and
    // ports forwarded without a user namespace.
    spec = validSpec();
    spec.privateNetwork = true;
    spec.privateUsers = "pick";
    spec.network.hostAddress = "10.231.0.1";
    spec.network.localAddress = "10.231.0.2";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec.privateUsers = "no";
    spec.forwardPorts = {{"tcp", 8080, 80}};
    EXPECT_NO_THROW(validateSpec(spec, settings_));

    // The highest base whose 65536 uids all exist, and a network namespace
    // as a /proc link to one.
    spec = validSpec();
    spec.privateUsers = "4294901759";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec.privateUsers = "65536";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
    spec.networkNamespace = "/proc/self/ns/net";
    EXPECT_NO_THROW(validateSpec(spec, settings_));
}

struct SpecCase {
    const char* title;
    std::function<void(ContainerSpec&)> change;
    std::string fragment;
};

TEST_F(ValidateSpec, AcceptsAMacvlanParentWhoseMacvlanNameFits) {
    auto spec = validSpec();
    spec.privateNetwork = true;
    spec.macvlans = {"abcdefghijkl"};  // 12 bytes: "mv-abcdefghijkl" is 15
    EXPECT_NO_THROW(validateSpec(spec, settings_));
}

TEST_F(ValidateSpec, RejectsEachBadValueWithANamedMessage) {
    const std::string store = settings_.storeDir.string();
    const std::vector<SpecCase> cases = {
        // system source
        {"no source", [](auto& s) { s.systemPath.clear(); },
         "one of SystemPath, Config, ConfigFile or Flake is required"},
        {"path and flake", [](auto& s) { s.flake = "github:x/y#web"; },
         "SystemPath and Flake are mutually exclusive"},
        {"path and config", [](auto& s) { s.config = "{}"; }, "SystemPath and Config are mutually exclusive"},
        {"config and file",
         [](auto& s) {
             s.systemPath.clear();
             s.config = "{}";
             s.configFile = "/x.nix";
         },
         "Config and ConfigFile are mutually exclusive"},
        {"relative path", [](auto& s) { s.systemPath = "nix/store/x"; },
         "SystemPath 'nix/store/x' is not an absolute path"},
        {"outside store", [](auto& s) { s.systemPath = "/tmp/x"; },
         "SystemPath '/tmp/x' is not inside the store"},
        {"no init", [](auto& s) { s.systemPath = "/nix/store/x"; }, "SystemPath '/nix/store/x' has no init"},
        {"no init in store", [store](auto& s) { s.systemPath = store + "/bbbb-no-init"; }, "has no init"},
        {"store itself", [](auto& s) { s.systemPath = "/nix/store"; }, "is not inside the store"},
        {"escape store", [](auto& s) { s.systemPath = "/nix/store/../etc"; }, "is not inside the store"},
        {"quote in path", [](auto& s) { s.systemPath = "/nix/store/a\"b"; },
         "SystemPath '/nix/store/a\"b' contains '\"'"},
        {"relative config file",
         [](auto& s) {
             s.systemPath.clear();
             s.configFile = "web.nix";
         },
         "ConfigFile 'web.nix' is not an absolute path"},
        {"space in flake",
         [](auto& s) {
             s.systemPath.clear();
             s.flake = "github:x/y #web";
         },
         "Flake 'github:x/y #web' contains whitespace"},
        // network requires PrivateNetwork
        {"address without private network", [](auto& s) { s.network.hostAddress = "10.0.0.1"; },
         "HostAddress requires PrivateNetwork"},
        {"local6 without private network", [](auto& s) { s.network.localAddress6 = "fc00::2"; },
         "LocalAddress6 requires PrivateNetwork"},
        {"bridge without private network", [](auto& s) { s.network.hostBridge = "br0"; },
         "HostBridge requires PrivateNetwork"},
        {"ports without private network",
         [](auto& s) {
             s.forwardPorts = {{"tcp", 80, 80}};
         },
         "ForwardPorts requires PrivateNetwork"},
        {"veths without private network", [](auto& s) { s.extraVeths["ve-a"] = {}; },
         "ExtraVeths requires PrivateNetwork"},
        {"interfaces without private network", [](auto& s) { s.interfaces = {"eth1"}; },
         "Interfaces requires PrivateNetwork"},
        {"macvlans without private network", [](auto& s) { s.macvlans = {"eth1"}; },
         "Macvlans requires PrivateNetwork"},
        // addresses
        {"bad v4",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "10.0.0.300";
         },
         "HostAddress '10.0.0.300' is not an IPv4 address"},
        {"v6 as v4",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress = "fc00::2";
         },
         "LocalAddress 'fc00::2' is not an IPv4 address"},
        {"v4 as v6",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress6 = "10.0.0.1";
         },
         "HostAddress6 '10.0.0.1' is not an IPv6 address"},
        {"v4 prefix 33",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "10.0.0.1/33";
         },
         "HostAddress '10.0.0.1/33' has a prefix length outside 0-32"},
        {"v6 prefix 129",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress6 = "fc00::2/129";
         },
         "LocalAddress6 'fc00::2/129' has a prefix length outside 0-128"},
        {"empty prefix",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress = "10.0.0.2/";
         },
         "prefix length outside 0-32"},
        {"signed prefix",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress = "10.0.0.2/+8";
         },
         "prefix length outside 0-32"},
        {"address with space",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress = " 10.0.0.2";
         },
         "is not an IPv4 address"},
        {"address with nul",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress = std::string("10.0.0.2\0x", 10);
         },
         "LocalAddress '10.0.0.2\\x00x' is not an IPv4 address"},
        // bridge
        {"bridge and host address",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostBridge = "br0";
             s.network.hostAddress = "10.0.0.1";
         },
         "HostBridge 'br0' and HostAddress '10.0.0.1' are mutually exclusive"},
        {"bridge and host address6",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostBridge = "br0";
             s.network.hostAddress6 = "fc00::1";
         },
         "HostBridge 'br0' and HostAddress6 'fc00::1' are mutually exclusive"},
        {"bad bridge name",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostBridge = "a-very-long-bridge";
         },
         "HostBridge 'a-very-long-bridge' is 18 bytes long"},
        // ports
        {"port protocol",
         [](auto& s) {
             s.privateNetwork = true;
             s.forwardPorts = {{"sctp", 80, 80}};
         },
         "ForwardPorts protocol 'sctp' is neither tcp nor udp"},
        {"port zero",
         [](auto& s) {
             s.privateNetwork = true;
             s.forwardPorts = {{"tcp", 0, 80}};
         },
         "ForwardPorts host port 0 is outside 1-65535"},
        {"duplicate port",
         [](auto& s) {
             s.privateNetwork = true;
             s.forwardPorts = {{"tcp", 80, 80}, {"tcp", 80, 8080}};
         },
         "ForwardPorts forwards tcp host port 80 twice"},
        // extra veths, interfaces, macvlans
        {"veth name",
         [](auto& s) {
             s.privateNetwork = true;
             s.extraVeths["ve/a"] = {};
         },
         "ExtraVeths name 've/a' contains '/'"},
        {"veth address",
         [](auto& s) {
             s.privateNetwork = true;
             s.extraVeths["ve-a"].localAddress = "nope";
         },
         "ExtraVeths.ve-a.LocalAddress 'nope' is not an IPv4 address"},
        {"veth bridge and address",
         [](auto& s) {
             s.privateNetwork = true;
             s.extraVeths["ve-a"] = {"10.0.0.1", "", "", "", "br1"};
         },
         "ExtraVeths.ve-a.HostBridge 'br1' and ExtraVeths.ve-a.HostAddress '10.0.0.1' are "
         "mutually exclusive"},
        {"interface",
         [](auto& s) {
             s.privateNetwork = true;
             s.interfaces = {"eth1", "eth 2"};
         },
         "Interfaces 'eth 2' contains whitespace"},
        {"macvlan",
         [](auto& s) {
             s.privateNetwork = true;
             s.macvlans = {""};
         },
         "Macvlans '' is empty"},
        {"macvlan parent whose macvlan name is too long",
         [](auto& s) {
             s.privateNetwork = true;
             s.macvlans = {"abcdefghijklmn"};  // 14 bytes: "mv-" makes 17
         },
         "Macvlans 'abcdefghijklmn': its macvlan 'mv-abcdefghijklmn' is 17 bytes long; interface names "
         "are at most 15"},
        // bind mounts
        {"relative mount point",
         [](auto& s) {
             s.bindMounts = {{"mnt", "", true}};
         },
         "BindMounts mount point 'mnt' is not an absolute path"},
        {"root mount point",
         [](auto& s) {
             s.bindMounts = {{"/", "/srv", true}};
         },
         "BindMounts mount point '/' is the container's root"},
        {"root mount point, spelt oddly",
         [](auto& s) {
             s.bindMounts = {{"//./", "/srv", true}};
         },
         "is the container's root"},
        {"colon in mount point",
         [](auto& s) {
             s.bindMounts = {{"/a:b", "", true}};
         },
         "BindMounts mount point '/a:b' contains ':'"},
        {"space in host path",
         [](auto& s) {
             s.bindMounts = {{"/mnt", "/my files", true}};
         },
         "BindMounts host path '/my files' contains ' '"},
        {"dotdot in host path",
         [](auto& s) {
             s.bindMounts = {{"/mnt", "/srv/../etc", true}};
         },
         "BindMounts host path '/srv/../etc' contains '..'"},
        {"relative host path",
         [](auto& s) {
             s.bindMounts = {{"/mnt", "srv", true}};
         },
         "BindMounts host path 'srv' is not an absolute path"},
        {"glob in host path",
         [](auto& s) {
             s.bindMounts = {{"/mnt", "/srv/*", true}};
         },
         "contains '*'"},
        {"dollar in mount point",
         [](auto& s) {
             s.bindMounts = {{"/$HOME", "", true}};
         },
         "contains '$'"},
        // tmpfs
        {"relative tmpfs", [](auto& s) { s.tmpfs = {"var"}; }, "Tmpfs 'var' is not an absolute path"},
        {"tmpfs options with space", [](auto& s) { s.tmpfs = {"/tmp:mode=1777, size=1G"}; },
         "Tmpfs '/tmp:mode=1777, size=1G' contains whitespace"},
        {"empty tmpfs", [](auto& s) { s.tmpfs = {""}; }, "Tmpfs '' is not an absolute path"},
        // capabilities
        {"unknown capability", [](auto& s) { s.additionalCapabilities = {"CAP_FOO"}; },
         "AdditionalCapabilities 'CAP_FOO' is not a known capability"},
        {"lower-case capability", [](auto& s) { s.additionalCapabilities = {"cap_net_admin"}; },
         "'cap_net_admin' is not a known capability"},
        {"capability without prefix", [](auto& s) { s.additionalCapabilities = {"NET_ADMIN"}; },
         "'NET_ADMIN' is not a known capability"},
        {"empty capability", [](auto& s) { s.additionalCapabilities = {""}; },
         "AdditionalCapabilities '' is not a known capability"},
        // devices
        {"device outside /dev",
         [](auto& s) {
             s.allowedDevices = {{"/etc/shadow", "r"}};
         },
         "AllowedDevices node '/etc/shadow' is not a path below /dev/"},
        {"device /dev itself",
         [](auto& s) {
             s.allowedDevices = {{"/dev/", "r"}};
         },
         "is not a path below /dev/"},
        {"device dotdot",
         [](auto& s) {
             s.allowedDevices = {{"/dev/../etc/shadow", "r"}};
         },
         "AllowedDevices node '/dev/../etc/shadow' contains '..'"},
        {"device with space",
         [](auto& s) {
             s.allowedDevices = {{"/dev/a b", "r"}};
         },
         "contains whitespace"},
        {"empty modifier",
         [](auto& s) {
             s.allowedDevices = {{"/dev/fuse", ""}};
         },
         "AllowedDevices modifier '' of '/dev/fuse' is not a combination of r, w and m"},
        {"bad modifier",
         [](auto& s) {
             s.allowedDevices = {{"/dev/fuse", "rx"}};
         },
         "AllowedDevices modifier 'rx'"},
        {"repeated modifier",
         [](auto& s) {
             s.allowedDevices = {{"/dev/fuse", "rr"}};
         },
         "AllowedDevices modifier 'rr'"},
        // time span
        {"timeout", [](auto& s) { s.timeoutStartSec = "soon"; }, "TimeoutStartSec 'soon' is not a time span"},
        {"memory", [](auto& s) { s.memoryMax = "lots"; }, "MemoryMax 'lots' is not a size"},
        {"empty timeout", [](auto& s) { s.timeoutStartSec = ""; }, "TimeoutStartSec '' is not a time span"},
        {"timeout with newline", [](auto& s) { s.timeoutStartSec = "1min\n30s"; },
         "TimeoutStartSec '1min\\x0a30s' contains '\\x0a'"},
        {"timeout with tab", [](auto& s) { s.timeoutStartSec = "\t90"; }, "contains '\\x09'"},
        // extra flags
        {"not an option", [](auto& s) { s.extraFlags = {"foo"}; },
         "ExtraFlags word 'foo' does not start with '-'"},
        {"separate value",
         [](auto& s) {
             s.extraFlags = {"--bind", "/a"};
         },
         "ExtraFlags option '--bind' needs its value in the same word (--bind=VALUE)"},
        {"empty word", [](auto& s) { s.extraFlags = {""}; }, "ExtraFlags word '' does not start"},
        {"just dashes", [](auto& s) { s.extraFlags = {"--"}; },
         "ExtraFlags word '--' is not --option or --option=value"},
        {"attached short value", [](auto& s) { s.extraFlags = {"-Dfoo"}; },
         "ExtraFlags word '-Dfoo' is not --option or --option=value"},
        {"triple dash", [](auto& s) { s.extraFlags = {"---x"}; }, "is not --option or --option=value"},
        {"space in flag", [](auto& s) { s.extraFlags = {"--setenv=A=b c"}; },
         "ExtraFlags word '--setenv=A=b c' contains ' '"},
        {"dollar in flag", [](auto& s) { s.extraFlags = {"--setenv=A=$HOME"}; }, "contains '$'"},
        {"quote in flag", [](auto& s) { s.extraFlags = {"--setenv=A='b'"}; }, "contains '''"},
        {"backslash in flag", [](auto& s) { s.extraFlags = {"--setenv=A=\\n"}; }, "contains '\\'"},
        {"backtick in flag", [](auto& s) { s.extraFlags = {"--setenv=A=`id`"}; }, "contains '`'"},
        {"glob in flag", [](auto& s) { s.extraFlags = {"--bind=/srv/*"}; }, "contains '*'"},
        {"semicolon in flag", [](auto& s) { s.extraFlags = {"--setenv=A=b;rm"}; }, "contains ';'"},
        {"reserved directory", [](auto& s) { s.extraFlags = {"--directory=/"}; },
         "ExtraFlags option '--directory=/' is set by the service itself"},
        {"reserved machine", [](auto& s) { s.extraFlags = {"--machine=other"}; },
         "'--machine=other' is set by the service itself"},
        {"reserved keep-unit", [](auto& s) { s.extraFlags = {"--keep-unit"}; },
         "'--keep-unit' is set by the service itself"},
        {"reserved register", [](auto& s) { s.extraFlags = {"--register=no"}; },
         "'--register=no' is set by the service itself"},
        {"reserved notify-ready", [](auto& s) { s.extraFlags = {"--notify-ready=no"}; },
         "is set by the service itself"},
        {"reserved kill-signal", [](auto& s) { s.extraFlags = {"--kill-signal=SIGKILL"}; },
         "is set by the service itself"},
        {"reserved netns", [](auto& s) { s.extraFlags = {"--network-namespace-path=/x"}; },
         "is set by the service itself"},
        {"reserved image", [](auto& s) { s.extraFlags = {"--image=/x.raw"}; },
         "is set by the service itself"},
        {"reserved boot", [](auto& s) { s.extraFlags = {"--boot"}; },
         "'--boot' is set by the service itself"},
        {"plain bind", [](auto& s) { s.extraFlags = {"--bind=/srv:/mnt"}; },
         "ExtraFlags option '--bind=/srv:/mnt' is a bind mount: use BindMounts"},
        {"plain bind-ro", [](auto& s) { s.extraFlags = {"--bind-ro=/srv"}; },
         "'--bind-ro=/srv' is a bind mount: use BindMounts"},
        {"reserved -b", [](auto& s) { s.extraFlags = {"-b"}; }, "'-b' is set by the service itself"},
        {"reserved -D", [](auto& s) { s.extraFlags = {"-D"}; }, "'-D' is set by the service itself"},
        {"reserved -M", [](auto& s) { s.extraFlags = {"-M"}; }, "'-M' is set by the service itself"},
        {"reserved -i", [](auto& s) { s.extraFlags = {"-i"}; }, "'-i' is set by the service itself"},

        // Issue 16: specs that passed Create but broke at Start, or started broken.
        {"host = local address",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "10.240.0.1";
             s.network.localAddress = "10.240.0.1";
         },
         "HostAddress '10.240.0.1' and LocalAddress '10.240.0.1' are the same address"},
        {"host = local address, prefix on one",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "10.240.0.1";
             s.network.localAddress = "10.240.0.1/24";
         },
         "are the same address"},
        {"host = local IPv6 address, spelled differently",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress6 = "fc00::1";
             s.network.localAddress6 = "fc00:0:0::1/64";
         },
         "HostAddress6 'fc00::1' and LocalAddress6 'fc00:0:0::1/64' are the same address"},
        {"extra veth host = local",
         [](auto& s) {
             s.privateNetwork = true;
             s.extraVeths = {{"ve-a", {"10.1.0.1", "10.1.0.1/24", "", "", ""}}};
         },
         "ExtraVeths.ve-a.HostAddress '10.1.0.1' and ExtraVeths.ve-a.LocalAddress '10.1.0.1/24' are the same"},
        {"loopback local address",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "10.240.0.1";
             s.network.localAddress = "127.0.0.2";
         },
         "LocalAddress '127.0.0.2' is a loopback address"},
        {"unspecified host address",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "0.0.0.0";
         },
         "HostAddress '0.0.0.0' is in 0.0.0.0/8"},
        {"broadcast local address",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress = "255.255.255.255";
         },
         "LocalAddress '255.255.255.255' is the broadcast address"},
        {"multicast host address",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress = "224.0.0.1";
         },
         "HostAddress '224.0.0.1' is a multicast address"},
        {"IPv6 unspecified, loopback, multicast",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.localAddress6 = "::";
         },
         "LocalAddress6 '::' is the unspecified address"},
        {"IPv6 loopback",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress6 = "::1";
         },
         "HostAddress6 '::1' is the loopback address"},
        {"IPv6 multicast",
         [](auto& s) {
             s.privateNetwork = true;
             s.network.hostAddress6 = "ff02::1";
         },
         "HostAddress6 'ff02::1' is a multicast address"},
        {"bind over the store", [](auto& s) { s.bindMounts = {{"/nix/store", "/srv", false}}; },
         "BindMounts mount point '/nix/store' overlaps /nix/store, where the service mounts the Nix store"},
        {"bind over /nix", [](auto& s) { s.bindMounts = {{"/nix", "/srv", true}}; },
         "BindMounts mount point '/nix' overlaps /nix/store"},
        {"bind below the profiles", [](auto& s) { s.bindMounts = {{"/nix/var/nix/profiles/x/", "/srv", true}}; },
         "BindMounts mount point '/nix/var/nix/profiles/x/' overlaps /nix/var/nix/profiles, where the service "
         "mounts the container's Nix profiles"},
        {"bind over the Nix database", [](auto& s) { s.bindMounts = {{"/nix/var//nix/db", "/srv", true}}; },
         "overlaps /nix/var/nix/db"},
        {"two binds, one mount point",
         [](auto& s) {
             s.bindMounts = {{"/srv", "/a", false}, {"/srv/", "/b", true}};
         },
         "BindMounts mount point '/srv/' mounts /srv again: BindMounts mount point '/srv' mounts it already, and "
         "one would hide the other"},
        {"bind and tmpfs, one mount point",
         [](auto& s) {
             s.bindMounts = {{"/srv", "/a", false}};
             s.tmpfs = {"/srv:mode=0755"};
         },
         "Tmpfs '/srv:mode=0755' mounts /srv again: BindMounts mount point '/srv' mounts it already"},
        {"two tmpfs, one mount point", [](auto& s) { s.tmpfs = {"/run/x", "/run/./x"}; },
         "Tmpfs '/run/./x' mounts /run/x again: Tmpfs '/run/x' mounts it already"},
        {"tmpfs over the root", [](auto& s) { s.tmpfs = {"/"}; }, "Tmpfs '/' is the container's root"},
        {"tmpfs over the root, with options", [](auto& s) { s.tmpfs = {"//:mode=0755"}; },
         "Tmpfs '//:mode=0755' is the container's root"},
        {"tmpfs over the store", [](auto& s) { s.tmpfs = {"/nix/store"}; },
         "Tmpfs '/nix/store' overlaps /nix/store"},
        {"tmpfs with ..", [](auto& s) { s.tmpfs = {"/a/../nix"}; }, "Tmpfs '/a/../nix' contains '..'"},
        {"extra-flag bind over the store", [](auto& s) { s.extraFlags = {"--bind=/a:/nix/store:norbind"}; },
         "ExtraFlags option '--bind=/a:/nix/store:norbind' overlaps /nix/store"},
        {"extra-flag bind and BindMounts, one mount point",
         [](auto& s) {
             s.bindMounts = {{"/srv", "/a", false}};
             s.extraFlags = {"--bind-ro=/b:/srv:norbind"};
         },
         "ExtraFlags option '--bind-ro=/b:/srv:norbind' mounts /srv again"},
        {"extra-flag overlay over /nix", [](auto& s) { s.extraFlags = {"--overlay=/a:/b:/nix"}; },
         "ExtraFlags option '--overlay=/a:/b:/nix' overlaps /nix/store"},
        {"extra-flag inaccessible store", [](auto& s) { s.extraFlags = {"--inaccessible=/nix/store"}; },
         "overlaps /nix/store"},
        {"abbreviated --machine", [](auto& s) { s.extraFlags = {"--machin=other"}; },
         "ExtraFlags option '--machin=other' is set by the service itself (it abbreviates --machine)"},
        {"abbreviated --directory", [](auto& s) { s.extraFlags = {"--dir=/"}; },
         "'--dir=/' is set by the service itself (it abbreviates --directory)"},
        {"abbreviated harmless option", [](auto& s) { s.extraFlags = {"--quie"}; },
         "ExtraFlags option '--quie' abbreviates --quiet: write the option's full name"},
        {"unknown long option", [](auto& s) { s.extraFlags = {"--frobnicate=1"}; },
         "ExtraFlags option '--frobnicate=1' is not accepted by systemd-nspawn: unknown option '--frobnicate'"},
        {"unknown short option", [](auto& s) { s.extraFlags = {"-Y"}; },
         "ExtraFlags option '-Y' is not accepted by systemd-nspawn: invalid option -- 'Y'"},
        {"ambiguous prefix", [](auto& s) { s.extraFlags = {"--private-u=1"}; },
         "'--private-u=1' is not accepted by systemd-nspawn: option '--private-u' is ambiguous: it abbreviates "
         "--private-users, --private-users-chown, --private-users-ownership"},
        {"value in the next word", [](auto& s) { s.extraFlags = {"--user"}; },
         "ExtraFlags option '--user' needs its value in the same word (--user=VALUE): systemd-nspawn would take "
         "the next word as its value"},
        {"short option taking the next word", [](auto& s) { s.extraFlags = {"-u"}; },
         "ExtraFlags option '-u' needs its value in the same word (--user=VALUE)"},
        {"short -E", [](auto& s) { s.extraFlags = {"-E"}; }, "needs its value in the same word (--setenv=VALUE)"},
        // An allow-list, not a deny-list: options nspawn knows that the
        // service does not pass on are refused, naming what it does.
        {"not allowed --settings", [](auto& s) { s.extraFlags = {"--settings=override"}; },
         "ExtraFlags option '--settings=override' is not one the service passes on to systemd-nspawn; these "
         "are: --uuid, --read-only,"},
        {"not allowed --pipe", [](auto& s) { s.extraFlags = {"--pipe"}; }, "is not one the service passes on"},
        {"not allowed --console", [](auto& s) { s.extraFlags = {"--console=passive"}; },
         "is not one the service passes on"},
        {"not allowed --user", [](auto& s) { s.extraFlags = {"--user=root"}; }, "is not one the service passes on"},
        {"-a is --as-pid2", [](auto& s) { s.extraFlags = {"-a"}; }, "as-pid2"},
        {"not allowed --root-hash", [](auto& s) { s.extraFlags = {"--root-hash=00"}; },
         "is not one the service passes on"},
        {"-U is PrivateUsers", [](auto& s) { s.extraFlags = {"-U"}; },
         "ExtraFlags option '-U' is the PrivateUsers key: use PrivateUsers (it is --private-users)"},
        {"--private-users-ownership", [](auto& s) { s.extraFlags = {"--private-users-ownership=chown"}; },
         "is set by the service with PrivateUsers"},
        {"PrivateUsers word", [](auto& s) { s.privateUsers = "maybe"; },
         "PrivateUsers 'maybe' is neither no, identity, pick nor a base uid (a decimal number)"},
        {"PrivateUsers negative", [](auto& s) { s.privateUsers = "-1"; }, "PrivateUsers '-1' is neither"},
        {"PrivateUsers over u32", [](auto& s) { s.privateUsers = "4294967296"; }, "is neither"},
        {"PrivateUsers leading zero", [](auto& s) { s.privateUsers = "0100"; }, "is neither"},
        {"PrivateUsers empty", [](auto& s) { s.privateUsers = ""; }, "is neither"},
        // Issue 25: nspawn refuses these bases; Create must not accept them.
        {"PrivateUsers (uid_t)-1", [](auto& s) { s.privateUsers = "4294967295"; },
         "PrivateUsers '4294967295' is no base uid systemd-nspawn accepts: the 65536 uids from it must be "
         "valid uids, so the base is at most 4294901759 and not 65535"},
        {"PrivateUsers range past 2^32", [](auto& s) { s.privateUsers = "4294901761"; },
         "is no base uid systemd-nspawn accepts"},
        {"PrivateUsers first base too high", [](auto& s) { s.privateUsers = "4294901760"; },
         "is no base uid systemd-nspawn accepts"},
        {"PrivateUsers 16-bit -1", [](auto& s) { s.privateUsers = "65535"; },
         "is no base uid systemd-nspawn accepts"},
        {"NetworkNamespace a regular file",
         [this](auto& s) {
             std::ofstream(root_ / "plain") << "x";
             s.networkNamespace = (root_ / "plain").string();
         },
         "NetworkNamespace '" + (root_ / "plain").string() + "' is not a namespace"},
        {"NetworkNamespace a directory", [](auto& s) { s.networkNamespace = "/"; },
         "NetworkNamespace '/' is not a namespace"},
        {"NetworkNamespace /dev/null", [](auto& s) { s.networkNamespace = "/dev/null"; }, "is not a namespace"},
        {"NetworkNamespace a mount namespace", [](auto& s) { s.networkNamespace = "/proc/self/ns/mnt"; },
         "NetworkNamespace '/proc/self/ns/mnt' is a namespace, but not a network namespace"},
        {"NetworkNamespace missing", [](auto& s) { s.networkNamespace = "/run/netns/none-such-namespace"; },
         "NetworkNamespace '/run/netns/none-such-namespace' does not exist"},
        {"PrivateUsers with ForwardPorts",
         [](auto& s) {
             s.privateNetwork = true;
             s.privateUsers = "pick";
             s.forwardPorts = {{"tcp", 8080, 80}};
         },
         "PrivateUsers 'pick' with ForwardPorts is not supported: a user-namespaced container's nspawn runs "
         "inside its private network, where it cannot forward the host's ports"},
        {"PrivateUsers with EnableTun",
         [](auto& s) {
             s.privateUsers = "pick";
             s.enableTun = true;
         },
         "PrivateUsers 'pick' with EnableTun is not supported: the container's root has no CAP_NET_ADMIN over its "
         "network namespace"},
        {"value for a flag", [](auto& s) { s.extraFlags = {"--quiet=yes"}; },
         "'--quiet=yes' is not accepted by systemd-nspawn: option '--quiet' doesn't allow an argument"},
        {"help", [](auto& s) { s.extraFlags = {"--help"}; },
         "ExtraFlags option '--help' makes systemd-nspawn print and exit instead of starting the container"},
        {"-h", [](auto& s) { s.extraFlags = {"-h"}; }, "makes systemd-nspawn print and exit"},
        {"version", [](auto& s) { s.extraFlags = {"--version"}; }, "makes systemd-nspawn print and exit"},
        {"as-pid2", [](auto& s) { s.extraFlags = {"-a"}; },
         "'-a' would not run the system's init as PID 1, which the service starts and waits for (it is --as-pid2)"},
        {"network veth", [](auto& s) { s.extraFlags = {"-n"}; },
         "'-n' would give the container a network the service does not know"},
        {"network zone", [](auto& s) { s.extraFlags = {"--network-zone=z"}; }, "the service does not know"},
        {"port", [](auto& s) { s.extraFlags = {"--port=tcp:80:80"}; }, "is the ForwardPorts key: use ForwardPorts"},
        {"private network", [](auto& s) { s.extraFlags = {"--private-network"}; }, "use PrivateNetwork"},
        {"extra veth", [](auto& s) { s.extraFlags = {"--network-veth-extra=ve-x"}; }, "use ExtraVeths"},
        {"ephemeral", [](auto& s) { s.extraFlags = {"-x"}; }, "'-x' is the Ephemeral key: use Ephemeral"},
        {"tmpfs", [](auto& s) { s.extraFlags = {"--tmpfs=/srv"}; }, "is the Tmpfs key: use Tmpfs"},
        {"link journal", [](auto& s) { s.extraFlags = {"-j"}; }, "'-j' is set by the service itself"},
        {"slice", [](auto& s) { s.extraFlags = {"--slice=x.slice"}; }, "is the service's unit's to decide"},
        {"property", [](auto& s) { s.extraFlags = {"--property=CPUQuota=50%"}; }, "is the service's unit's"},
        {"setenv of the service's variable", [](auto& s) { s.extraFlags = {"--setenv=PATH=/bin"}; },
         "ExtraFlags option '--setenv=PATH=/bin' sets PATH, which the service sets itself"},
        {"setenv of HOST_ADDRESS", [](auto& s) { s.extraFlags = {"--setenv=HOST_ADDRESS"}; },
         "sets HOST_ADDRESS"},
        {"missing config file",
         [this](auto& s) {
             s.systemPath.clear();
             s.configFile = (root_ / "missing.nix").string();
         },
         "ConfigFile '" + (root_ / "missing.nix").string() + "' does not exist"},
        {"config file is a directory",
         [this](auto& s) {
             s.systemPath.clear();
             s.configFile = root_.string();
         },
         "ConfigFile '" + root_.string() + "' is not a regular file"},
    };
    for (const auto& testCase : cases) {
        SCOPED_TRACE(testCase.title);
        ContainerSpec spec = validSpec();
        testCase.change(spec);
        expectInvalid([&] { validateSpec(spec, settings_); }, testCase.fragment);
    }
}

// The fuzzer's promise: random input never crashes validation nor escapes
// as anything but ContainerError.
TEST_F(ValidateSpec, RandomInputOnlyEverThrowsContainerError) {
    std::mt19937 random(12345);
    const std::string alphabet =
        std::string("abcXYZ019 -_./:,=@$\"'\\`*?[]\t\n\x01\xff") + std::string(1, '\0');
    auto text = [&](std::size_t maxLength) {
        std::string out;
        auto length = random() % (maxLength + 1);
        for (std::size_t i = 0; i < length; ++i) {
            out += alphabet[random() % alphabet.size()];
        }
        return out;
    };
    // Valid values for the fields, so that some specs pass and the
    // accepted path (conf round trip) is exercised too.
    const std::vector<std::string> seeds = {"10.0.0.1",
                                            "fc00::1/64",
                                            "/dev/fuse",
                                            "--bind=/a:/b:norbind",
                                            "CAP_NET_ADMIN",
                                            "1min 30s",
                                            "tcp",
                                            "udp",
                                            "rw",
                                            "/mnt",
                                            "br0",
                                            "-U",
                                            "/tmp:mode=1777",
                                            "/nix/store/aaaa-nixos-system-web"};
    auto value = [&](std::size_t maxLength) {
        return random() % 2 == 0 ? seeds[random() % seeds.size()] : text(maxLength);
    };
    int accepted = 0;
    for (int round = 0; round < 5000; ++round) {
        ContainerSpec spec = validSpec();
        switch (random() % 4) {
            case 0:
                spec.systemPath = value(20);
                break;
            case 1:
                spec.systemPath.clear();
                spec.config = value(5);
                break;
            case 2:
                spec.systemPath.clear();
                spec.flake = value(10);
                break;
            default:
                break;
        }
        spec.privateNetwork = random() % 2 == 0;
        if (random() % 2)
            spec.network.hostAddress = value(16);
        if (random() % 3 == 0)
            spec.network.localAddress6 = value(16);
        if (random() % 4 == 0)
            spec.network.hostBridge = value(18);
        if (random() % 3 == 0) {
            spec.forwardPorts.push_back(
                {value(4), static_cast<std::uint16_t>(random()), static_cast<std::uint16_t>(random())});
        }
        if (random() % 3 == 0)
            spec.bindMounts.push_back({value(10), value(10), random() % 2 == 0});
        if (random() % 3 == 0)
            spec.tmpfs.push_back(value(10));
        if (random() % 3 == 0)
            spec.additionalCapabilities.push_back(value(14));
        if (random() % 3 == 0)
            spec.allowedDevices.push_back({value(12), value(3)});
        if (random() % 2)
            spec.timeoutStartSec = value(12);
        if (random() % 3 == 0)
            spec.extraVeths[value(8)] = {value(10), value(10), "", "", ""};
        if (random() % 3 == 0)
            spec.interfaces.push_back(value(17));
        if (random() % 3 == 0)
            spec.extraFlags.push_back(value(20));
        bool valid = false;
        try {
            validateSpec(spec, settings_);
            valid = true;
        } catch (const ContainerError& error) {
            EXPECT_EQ(error.code(), ErrorCode::InvalidArgument);
        } catch (...) {
            ADD_FAILURE() << "a non-ContainerError escaped validateSpec";
        }
        if (valid) {
            ++accepted;
            expectStoredUnchanged(spec);
        }
        try {
            validateName(value(70));
        } catch (const ContainerError&) {
        }
        try {
            parseTimespanUsec(value(20));
        } catch (const ContainerError&) {
        }
    }
    // Some random specs are valid; the loop exercised acceptance as well.
    EXPECT_GT(accepted, 10);
}

}  // namespace
}  // namespace nixos_containers
