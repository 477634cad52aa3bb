// Every bad input gets its named error, a message that says what was wrong,
// and leaves nothing behind.
#include "bus_fixture.h"

namespace bus_tests {
namespace {

using Ports = std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>>;
using Binds = std::vector<sdbus::Struct<std::string, std::string, bool>>;
using Strings = std::vector<std::string>;

struct BadCreate {
    std::string label;  // test name suffix
    std::string name;
    // Built in the test: a spec refers to the per-test store.
    std::function<Spec(const fs::path& system, const fs::path& store)> spec;
    std::string messagePart;
    std::string errorName = kInvalidArgument;
};

Spec withSystem(const fs::path& system, Spec extra) {
    extra.emplace("SystemPath", sdbus::Variant(system.string()));
    return extra;
}

std::vector<BadCreate> badCreates() {
    auto plain = [](const fs::path& system, const fs::path&) { return withSystem(system, {}); };
    return {
        {"NameWithSlash", "a/b", plain, "name 'a/b' contains '/'"},
        {"EmptyName", "", plain, "name '' is empty"},
        {"NameStartingWithDash", "-x", plain, "starts with '-'"},
        {"NameOf65Characters", std::string(65, 'a'), plain, "is 65 characters long; the limit is 64"},
        {"NonAsciiName", "\xc3\xa4", plain, "contains"},
        {"UnknownKey", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"Colour", sdbus::Variant(std::string("red"))}});
         },
         "unknown key 'Colour'"},
        {"WrongVariantType", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"PrivateNetwork", sdbus::Variant(std::string("yes"))}});
         },
         "key 'PrivateNetwork' must have type 'b', not 's'"},
        {"BadAddress", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"PrivateNetwork", sdbus::Variant(true)},
                                   {"HostAddress", sdbus::Variant(std::string("10.233.0.300"))}});
         },
         "HostAddress '10.233.0.300' is not an IPv4"},
        {"PortZero", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"PrivateNetwork", sdbus::Variant(true)},
                                   {"ForwardPorts", sdbus::Variant(Ports{{"tcp", 0, 80}})}});
         },
         "host port 0 is outside 1-65535"},
        {"PortProtocol", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"PrivateNetwork", sdbus::Variant(true)},
                                   {"ForwardPorts", sdbus::Variant(Ports{{"sctp", 80, 80}})}});
         },
         "protocol 'sctp' is neither tcp nor udp"},
        // Every string and list has a size limit.
        {"ConfigOverAMebibyte", "web",
         [](const fs::path&, const fs::path&) {
             return Spec{{"Config", sdbus::Variant(std::string((1U << 20) + 1, ' '))}};
         },
         "Config has a value of 1048577 bytes; the limit is 1048576", kLimitsExceeded},
        {"TwoHundredFiftySevenTmpfs", "web",
         [](const fs::path& s, const fs::path&) {
             Strings mounts;
             for (int i = 0; i < 257; ++i) {
                 mounts.push_back("/t" + std::to_string(i));
             }
             return withSystem(s, {{"Tmpfs", sdbus::Variant(mounts)}});
         },
         "Tmpfs has 257 entries; the limit is 256", kLimitsExceeded},
        {"BindPathOver4096Bytes", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(
                 s, {{"BindMounts", sdbus::Variant(Binds{{"/" + std::string(4096, 'a'), "", true}})}});
         },
         "BindMounts has a value of 4097 bytes; the limit is 4096", kLimitsExceeded},
        {"RelativeBindPath", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"BindMounts", sdbus::Variant(Binds{{"data", "/srv/data", false}})}});
         },
         "BindMounts mount point 'data'"},
        {"BadCapability", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"AdditionalCapabilities", sdbus::Variant(Strings{"CAP_NOPE"})}});
         },
         "AdditionalCapabilities 'CAP_NOPE' is not a known capability"},
        {"ReservedFlag", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"ExtraFlags", sdbus::Variant(Strings{"--machine=x"})}});
         },
         "'--machine=x' is set by the service itself"},
        {"FlagThatIsNoOption", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"ExtraFlags", sdbus::Variant(Strings{"foo"})}});
         },
         "ExtraFlags word 'foo' does not start with '-'"},
        {"MacvlanNameTooLong", "web",
         [](const fs::path& s, const fs::path&) {
             // A 14-byte parent: its macvlan "mv-" + parent is 17 bytes.
             return withSystem(s, {{"PrivateNetwork", sdbus::Variant(true)},
                                   {"Macvlans", sdbus::Variant(Strings{"abcdefghijklmn"})}});
         },
         "Macvlans 'abcdefghijklmn': its macvlan 'mv-abcdefghijklmn' is 17 bytes long"},
        {"SystemPathOutsideTheStore", "web",
         [](const fs::path&, const fs::path&) {
             return Spec{{"SystemPath", sdbus::Variant(std::string("/usr"))}};
         },
         "SystemPath '/usr' is not inside the store"},
        {"SystemPathWithoutInit", "web",
         [](const fs::path&, const fs::path& store) {
             fs::create_directories(store / "00000000000000000000000000000000-empty");
             return Spec{
                 {"SystemPath", sdbus::Variant((store / "00000000000000000000000000000000-empty").string())}};
         },
         "has no init"},
        {"TwoSources", "web",
         [](const fs::path& s, const fs::path&) {
             return withSystem(s, {{"Config", sdbus::Variant(std::string("{ }"))}});
         },
         "are mutually exclusive"},
        {"NoSource", "web", [](const fs::path&, const fs::path&) { return Spec{}; },
         "one of SystemPath, Config, ConfigFile or Flake is required"},
        // Issue 16: the seven specs that Create accepted but that broke at
        // Start, or started broken. The name is Create's alone; the six
        // spec cases are refused by Update too (InvalidUpdateTest).
        {"Issue16NameWithUnderscore", "a_b", plain,
         "name 'a_b' contains '_', which systemd-nspawn refuses in a machine name"},
        {"Issue16NameEndingWithDash", "web-", plain, "name 'web-' ends with '-'"},
    };
}

// The six spec cases of issue 16, as a Create's extra keys and as an
// Update's patch.
struct BadSpec {
    std::string label;
    std::function<Spec(const fs::path& scratch)> keys;
    std::string messagePart;
};

std::vector<BadSpec> issue16Specs() {
    return {
        {"HostAddressIsLocalAddress",
         [](const fs::path&) {
             return Spec{{"PrivateNetwork", sdbus::Variant(true)},
                         {"HostAddress", sdbus::Variant(std::string("10.240.0.1"))},
                         {"LocalAddress", sdbus::Variant(std::string("10.240.0.1"))}};
         },
         "HostAddress '10.240.0.1' and LocalAddress '10.240.0.1' are the same address"},
        {"BindOverTheStore",
         [](const fs::path&) {
             return Spec{{"BindMounts", sdbus::Variant(Binds{{"/nix/store", "/srv", false}})}};
         },
         "BindMounts mount point '/nix/store' overlaps /nix/store, where the service mounts the Nix store"},
        {"TwoBindsOneMountPoint",
         [](const fs::path&) {
             return Spec{{"BindMounts", sdbus::Variant(Binds{{"/srv", "/a", false}, {"/srv", "/b", true}})}};
         },
         "BindMounts mount point '/srv' mounts /srv again: BindMounts mount point '/srv' mounts it already"},
        {"TmpfsOverTheRoot",
         [](const fs::path&) {
             return Spec{{"Tmpfs", sdbus::Variant(Strings{"/"})}};
         },
         "Tmpfs '/' is the container's root"},
        {"AbbreviatedMachineFlag",
         [](const fs::path&) {
             return Spec{{"ExtraFlags", sdbus::Variant(Strings{"--machin=other"})}};
         },
         "ExtraFlags option '--machin=other' is set by the service itself (it abbreviates --machine)"},
        // Left out, the service chooses; given empty, it is no mode.
        {"EmptyPrivateUsers",
         [](const fs::path&) {
             return Spec{{"PrivateUsers", sdbus::Variant(std::string())}};
         },
         "PrivateUsers '' is neither no, identity, pick nor a base uid"},
        {"MissingConfigFile",
         [](const fs::path& scratch) {
             return Spec{{"ConfigFile", sdbus::Variant((scratch / "missing.nix").string())}};
         },
         "missing.nix' does not exist"},
    };
}

void PrintTo(const BadSpec& bad, std::ostream* out) {
    *out << bad.label;
}

class InvalidSpecTest : public BusTest, public ::testing::WithParamInterface<BadSpec> {};

TEST_P(InvalidSpecTest, CreateRefusesItAndLeavesNothing) {
    const auto& bad = GetParam();
    auto keys = bad.keys(storeDir().parent_path());
    if (keys.count("ConfigFile") == 0) {
        keys = withSystem(system(), keys);
    }
    EXPECT_TRUE(failsWith([&] { create("web", keys); }, kInvalidArgument, bad.messagePart));
    EXPECT_TRUE(leftNothingOf("web"));
    EXPECT_TRUE(list().empty());
    EXPECT_TRUE(peers().polkitChecks().empty());
}

TEST_P(InvalidSpecTest, UpdateRefusesItAndKeepsTheConf) {
    const auto& bad = GetParam();
    createSimple("web");
    auto before = readText(confFile("web"));
    auto checks = peers().polkitChecks().size();
    EXPECT_TRUE(failsWith([&] { update("web", bad.keys(storeDir().parent_path())); }, kInvalidArgument,
                          bad.messagePart));
    EXPECT_EQ(readText(confFile("web")), before);
    EXPECT_EQ(peers().polkitChecks().size(), checks);
}

INSTANTIATE_TEST_SUITE_P(Issue16, InvalidSpecTest, ::testing::ValuesIn(issue16Specs()),
                         [](const auto& info) { return info.param.label; });

// Keeps gtest from dumping the struct's bytes in failure messages.
void PrintTo(const BadCreate& bad, std::ostream* out) {
    *out << bad.label;
}

class InvalidCreateTest : public BusTest, public ::testing::WithParamInterface<BadCreate> {};

TEST_P(InvalidCreateTest, IsRefusedAndLeavesNothing) {
    const auto& bad = GetParam();
    auto spec = bad.spec(system(), storeDir());
    EXPECT_TRUE(failsWith([&] { create(bad.name, spec); }, bad.errorName, bad.messagePart));
    EXPECT_TRUE(leftNothingOf(bad.name));
    // Nothing anywhere, whatever file name the bad name would have made.
    EXPECT_TRUE(fs::is_empty(configDir()));
    EXPECT_TRUE(fs::is_empty(stateDir()));
    EXPECT_TRUE(fs::is_empty(profilesDir()));
    EXPECT_TRUE(fs::is_empty(gcrootsDir()));
    EXPECT_TRUE(list().empty());
    // Validation comes before authorization: polkit was never asked.
    EXPECT_TRUE(peers().polkitChecks().empty());
}

INSTANTIATE_TEST_SUITE_P(EveryBadInput, InvalidCreateTest, ::testing::ValuesIn(badCreates()),
                         [](const auto& info) { return info.param.label; });

using InvalidInputTest = BusTest;

TEST_F(InvalidInputTest, DuplicateIsAlreadyExistsAndKeepsTheFirst) {
    createSimple("web");
    auto before = readText(confFile("web"));
    auto other = makeSystem("other-system");
    EXPECT_TRUE(failsWith(
        [&] {
            create("web", {{"SystemPath", sdbus::Variant(other.string())}});
        },
        kAlreadyExists, "container 'web' already exists"));
    EXPECT_EQ(readText(confFile("web")), before);
    EXPECT_EQ(fs::canonical(profilesDir() / "web" / "system"), fs::canonical(system()));
}

TEST_F(InvalidInputTest, UnknownContainerIsNoSuchContainerForEveryVerb) {
    for (const char* method :
         {"Start", "Stop", "Restart", "Terminate", "Reload", "Destroy", "GetContainer", "Inspect"}) {
        SCOPED_TRACE(method);
        EXPECT_TRUE(
            failsWith([&] { verb(method, "ghost"); }, kNoSuchContainer, "no container named 'ghost'"));
    }
    EXPECT_TRUE(failsWith(
        [&] {
            update("ghost", {{"AutoStart", sdbus::Variant(true)}});
        },
        kNoSuchContainer, "no container named 'ghost'"));
    // A bad name is a bad name, even for a verb.
    EXPECT_TRUE(failsWith([&] { verb("Start", "a/b"); }, kInvalidArgument, "name 'a/b' contains '/'"));
    EXPECT_TRUE(peers().transientUnits().empty());
    EXPECT_TRUE(peers().polkitChecks().empty());
}

TEST_F(InvalidInputTest, BadUpdateIsRefusedAndKeepsTheConf) {
    createSimple("web");
    auto before = readText(confFile("web"));
    EXPECT_TRUE(failsWith(
        [&] {
            update("web", {{"AdditionalCapabilities", sdbus::Variant(Strings{"CAP_NOPE"})}});
        },
        kInvalidArgument, "CAP_NOPE"));
    EXPECT_TRUE(failsWith(
        [&] {
            update("web", {{"Colour", sdbus::Variant(std::string("red"))}});
        },
        kInvalidArgument, "unknown key 'Colour'"));
    EXPECT_EQ(readText(confFile("web")), before);
}

}  // namespace
}  // namespace bus_tests
