#include "conf_file.h"
#include "errors.h"

#include "expect_error.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;

// The fixtures sit next to this file, so the tests need no CMake plumbing;
// a build may still point elsewhere with UNIT_TEST_DATA_DIR.
fs::path dataDir() {
#ifdef UNIT_TEST_DATA_DIR
    return UNIT_TEST_DATA_DIR;
#else
    return fs::path(__FILE__).parent_path() / "data";
#endif
}

std::string readFixture(const std::string& name) {
    std::ifstream in(dataDir() / name, std::ios::binary);
    EXPECT_TRUE(in.good()) << "missing fixture " << (dataDir() / name);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

using Entries = std::vector<std::pair<std::string, std::string>>;

// ---- EnvFile ---------------------------------------------------------------

// Issue 25 item 13: what no writer leaves whole is named, not parsed.
TEST(ConfTextProblem, NamesWhatNoWholeWriteLeaves) {
    EXPECT_EQ(confTextProblem("SYSTEM_PATH=/nix/store/abc\n"), "");
    EXPECT_EQ(confTextProblem("# only a comment\n"), "");
    EXPECT_EQ(confTextProblem(""), "it is empty");
    EXPECT_EQ(confTextProblem(std::string("A=1\n") + '\0' + "\n"), "it contains a NUL byte");
    EXPECT_EQ(confTextProblem("A=1\nB=/nix/st"), "its last line has no newline (a write cut short?)");
    std::string many;
    for (std::size_t i = 0; i <= kMaxConfLines; ++i) {
        many += "A=1\n";
    }
    EXPECT_EQ(confTextProblem(many), "it has more than 4096 lines");
    many.resize(many.size() - 4);
    EXPECT_EQ(confTextProblem(many), "");
}

TEST(EnvFile, ParsesTheTemplateStyles) {
    auto file = EnvFile::parse(
        "# comment\n"
        "; also a comment\n"
        "\n"
        "PLAIN=/nix/store/abc\n"
        "DOUBLE=\"a b  c\"\n"
        "SINGLE='x \"y\" $z'\n"
        "EMPTY=\n"
        "EMPTY_QUOTED=\"\"\n"
        "  SPACED = value with spaces   \n"
        "ESCAPED=\"q\\\"b\\\\s\\$d\\`t\\n\"\n"
        "BARE_ESCAPE=a\\ b\n"
        "CRLF=yes\r\n"
        "LAST=no-newline");
    const Entries expected = {
        {"PLAIN", "/nix/store/abc"},
        {"DOUBLE", "a b  c"},
        {"SINGLE", "x \"y\" $z"},
        {"EMPTY", ""},
        {"EMPTY_QUOTED", ""},
        {"SPACED", "value with spaces"},
        {"ESCAPED", "q\"b\\s$d`t\\n"},
        {"BARE_ESCAPE", "a b"},
        {"CRLF", "yes"},
        {"LAST", "no-newline"},
    };
    EXPECT_EQ(file.entries(), expected);
    ASSERT_NE(file.find("DOUBLE"), nullptr);
    EXPECT_EQ(*file.find("DOUBLE"), "a b  c");
    EXPECT_EQ(file.find("MISSING"), nullptr);
}

TEST(EnvFile, LaterAssignmentWinsInPlace) {
    auto file = EnvFile::parse("A=1\nB=2\nA=3\n");
    EXPECT_EQ(file.entries(), (Entries{{"A", "3"}, {"B", "2"}}));
}

TEST(EnvFile, RejectsMalformedLinesNamingThem) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"A=1\nnot a line\n", "conf line 2 'not a line': expected KEY=value"},
        {"=value\n", "conf line 1 '=value': expected KEY=value"},
        {"1A=x\n", "expected KEY=value"},
        {"A-B=x\n", "expected KEY=value"},
        {"export A=x\n", "expected KEY=value"},
        {"A=\"open\n", "conf line 1 'A=\"open': unterminated quote"},
        {"A='open\nB=2'\n", "unterminated quote"},
        {"A=\"x\"y\n", "text after the closing quote"},
        {"A=x\\\n", "line continuations are not supported"},
        {"A\xff=1\n", "conf line 1 'A\\xff=1'"},
    };
    for (const auto& testCase : cases) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& text = testCase.first;
        const auto& fragment = testCase.second;
        SCOPED_TRACE(text);
        expectInvalid([&] { EnvFile::parse(text); }, fragment);
    }
}

TEST(EnvFile, SerializesSafeValuesBareAndOthersQuoted) {
    EnvFile file;
    file.set("SYSTEM_PATH", "/nix/store/abc-nixos-system-web");
    file.set("HOST_PORT", "tcp:8080:80,udp:53:53");
    file.set("SAFE", "a_b.c/d:e,f@g%h+i=j-k");
    file.set("INTERFACES", "eth1 eth2");
    file.set("EMPTY", "");
    file.set("QUOTE", "it's");
    EXPECT_EQ(file.serialize(),
              "SYSTEM_PATH=/nix/store/abc-nixos-system-web\n"
              "HOST_PORT=tcp:8080:80,udp:53:53\n"
              "SAFE=a_b.c/d:e,f@g%h+i=j-k\n"
              "INTERFACES=\"eth1 eth2\"\n"
              "EMPTY=\n"
              "QUOTE=\"it's\"\n");
}

TEST(EnvFile, SetReplacesInPlaceAndEraseRemoves) {
    auto file = EnvFile::parse("A=1\nB=2\nC=3\n");
    file.set("B", "two");
    file.set("D", "4");
    file.erase("A");
    file.erase("NOT_THERE");
    EXPECT_EQ(file.entries(), (Entries{{"B", "two"}, {"C", "3"}, {"D", "4"}}));
}

TEST(EnvFile, SetRefusesWhatTheTemplateCannotPassOn) {
    EnvFile file;
    const std::vector<std::pair<std::string, std::string>> values = {
        {"a\"b", "contains '\"'"}, {"a\\b", "contains '\\'"},    {"$HOME", "contains '$'"},
        {"`id`", "contains '`'"},  {"a\nb", "contains '\\x0a'"},
    };
    for (const auto& testCase : values) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& value = testCase.first;
        const auto& fragment = testCase.second;
        SCOPED_TRACE(value);
        expectInvalid([&] { file.set("KEY", value); }, "KEY value");
        expectInvalid([&] { file.set("KEY", value); }, fragment);
    }
    expectInvalid([&] { file.set("BAD KEY", "x"); }, "conf key 'BAD KEY' is not a valid variable name");
    expectInvalid([&] { file.set("", "x"); }, "conf key ''");
    EXPECT_TRUE(file.entries().empty());
}

TEST(EnvFile, ParsedOddValuesSurviveARoundTrip) {
    // Values another tool wrote, which set() would refuse, still come back
    // unchanged after serialize().
    const std::string text =
        "A='x \"y\" $z'\n"
        "B=\"it's \\\"quoted\\\" and \\$dollar\"\n"
        "C=\"back\\\\slash\"\n"
        "D=tab\\\there\n";
    auto file = EnvFile::parse(text);
    auto again = EnvFile::parse(file.serialize());
    EXPECT_EQ(again.entries(), file.entries());
}

TEST(EnvFile, RandomEntriesRoundTrip) {
    std::mt19937 random(4242);
    const std::string alphabet = "aZ09 _-./:,@%+=\"'\\$`#;*\t\r";
    for (int round = 0; round < 500; ++round) {
        std::string text;
        std::vector<std::pair<std::string, std::string>> generated;
        auto count = random() % 5;
        for (std::size_t i = 0; i < count; ++i) {
            std::string value;
            auto length = random() % 12;
            for (std::size_t j = 0; j < length; ++j) {
                value += alphabet[random() % alphabet.size()];
            }
            // Build through parse (single quotes keep everything literal)
            // when there is no single quote, else through double quotes.
            text += "K" + std::to_string(i) + "=";
            if (value.find('\'') == std::string::npos) {
                text += "'" + value + "'\n";
            } else {
                text += '"';
                for (char c : value) {
                    if (c == '"' || c == '\\' || c == '$' || c == '`')
                        text += '\\';
                    text += c;
                }
                text += "\"\n";
            }
            generated.emplace_back("K" + std::to_string(i), value);
        }
        SCOPED_TRACE(text);
        // Both against the generated values: parse(serialize(x)) == x alone
        // would also hold for a parser that mangles every value the same way.
        auto file = EnvFile::parse(text);
        EXPECT_EQ(file.entries(), generated);
        EXPECT_EQ(EnvFile::parse(file.serialize()).entries(), generated);
    }
}

TEST(EnvFile, RandomTextOnlyEverThrowsContainerError) {
    std::mt19937 random(777);
    const std::string alphabet = std::string("AB_=1 \"'\\$#;\n\r\t\xff") + std::string(1, '\0');
    for (int round = 0; round < 3000; ++round) {
        std::string text;
        auto length = random() % 40;
        for (std::size_t i = 0; i < length; ++i) {
            text += alphabet[random() % alphabet.size()];
        }
        try {
            auto file = EnvFile::parse(text);
            EXPECT_EQ(EnvFile::parse(file.serialize()).entries(), file.entries());
            auto spec = specFromConf(file);
            auto back = confFromSpec(spec, file, "/etc/nixos-containers/x.nix");
            (void)back.serialize();
        } catch (const ContainerError& error) {
            EXPECT_EQ(error.code(), ErrorCode::InvalidArgument);
        } catch (...) {
            ADD_FAILURE() << "a non-ContainerError escaped for " << ::testing::PrintToString(text);
        }
    }
}

// ---- fixtures: what the module and nixos-container write -------------------

TEST(SpecFromConf, ModuleMinimal) {
    auto spec = specFromConf(EnvFile::parse(readFixture("module-minimal.conf")));
    ContainerSpec expected;
    expected.systemPath = "/nix/store/4c3k7yq1gv0wnlbfl7z5x2kzl3xx0aam-nixos-system-minimal-24.05";
    EXPECT_EQ(spec, expected);
}

TEST(SpecFromConf, ModuleVethWithPortsBindsAndFlags) {
    auto spec = specFromConf(EnvFile::parse(readFixture("module-veth.conf")));
    ContainerSpec expected;
    expected.systemPath = "/nix/store/9x8v7b6n5m4l3k2j1h0g9f8d7s6a5p4o-nixos-system-web-24.05";
    expected.privateNetwork = true;
    expected.network.hostAddress = "10.231.136.1";
    expected.network.localAddress = "10.231.136.2";
    // mkPortStr writes hostPort for a null containerPort.
    expected.forwardPorts = {{"tcp", 8080, 80}, {"udp", 5353, 5353}};
    expected.autoStart = true;
    expected.bindMounts = {{"/data", "", false}, {"/var/www", "/srv/www", true}};
    expected.extraFlags = {"--drop-capability=CAP_SYS_CHROOT", "--resolv-conf=bind-host"};
    EXPECT_EQ(spec, expected);
}

TEST(SpecFromConf, ModuleBridgeWithInterfacesAndMacvlans) {
    auto spec = specFromConf(EnvFile::parse(readFixture("module-bridge.conf")));
    ContainerSpec expected;
    expected.systemPath = "/nix/store/1q2w3e4r5t6y7u8i9o0p1a2s3d4f5g6h-nixos-system-lan-24.05";
    expected.privateNetwork = true;
    expected.network.hostBridge = "br0";
    expected.network.localAddress = "192.168.1.50/24";
    expected.network.localAddress6 = "2001:db8::50/64";
    expected.interfaces = {"eth1", "eth2"};
    expected.macvlans = {"enp3s0"};
    EXPECT_EQ(spec, expected);
}

TEST(SpecFromConf, NixosContainerImperativeWithoutSystemPath) {
    // `nixos-container create web --config ...`: no SYSTEM_PATH (the template
    // falls back to the per-container profile), empty HOST_BRIDGE/HOST_PORT
    // and AUTO_START=0.
    auto spec = specFromConf(EnvFile::parse(readFixture("nixos-container-config.conf")));
    ContainerSpec expected;
    expected.privateNetwork = true;
    expected.network.hostAddress = "10.233.1.1";
    expected.network.localAddress = "10.233.1.2";
    EXPECT_EQ(spec, expected);
    EXPECT_FALSE(spec.needsBuild());
}

TEST(SpecFromConf, NixosContainerFlakeWithBarePort) {
    auto spec = specFromConf(EnvFile::parse(readFixture("nixos-container-flake.conf")));
    ContainerSpec expected;
    expected.flake = "github:alice/containers";
    expected.privateNetwork = true;
    expected.network.hostAddress = "10.250.0.1";
    expected.network.localAddress = "10.250.0.2";
    expected.forwardPorts = {{"tcp", 5432, 0}};
    expected.autoStart = true;
    EXPECT_EQ(spec, expected);
}

TEST(SpecFromConf, ServiceFormatWithEveryKey) {
    auto conf = EnvFile::parse(readFixture("service-full.conf"));
    auto spec = specFromConf(conf);
    ContainerSpec expected;
    expected.systemPath = "/nix/store/0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p-nixos-system-full-24.05";
    expected.privateNetwork = true;
    expected.network = {"10.233.7.1/24", "10.233.7.2/24", "fc00::1", "fc00::2/64", ""};
    expected.forwardPorts = {{"tcp", 8080, 80}, {"udp", 53, 53}};
    expected.interfaces = {"eth1"};
    expected.macvlans = {"eth3", "eth4"};
    expected.autoStart = true;
    expected.bindMounts = {{"/mnt", "/host", true}, {"/data", "", false}};
    // A bind with nspawn mount options has no BindMount form: it stays a flag.
    expected.extraFlags = {"--bind=/a:/b:norbind", "--drop-capability=CAP_SYS_CHROOT"};
    expected.ephemeral = true;
    expected.enableTun = true;
    expected.timeoutStartSec = "1min 30s";
    expected.additionalCapabilities = {"CAP_NET_ADMIN", "CAP_MKNOD"};
    expected.tmpfs = {"/var", "/tmp:mode=1777"};
    expected.allowedDevices = {{"/dev/net/tun", "rw"}, {"/dev/fuse", "rwm"}};
    expected.extraVeths = {{"ve-a", {"10.1.0.1", "10.1.0.2", "fc01::1", "fc01::2", ""}},
                           {"ve-b", {"", "", "", "", "br1"}}};
    EXPECT_EQ(spec, expected);
}

TEST(SpecFromConf, ConfigTextFileLeavesConfigEmpty) {
    auto spec = specFromConf(
        EnvFile::parse("CONFIG_TEXT_FILE=/etc/nixos-containers/web.nix\nCONFIG_FILE=/etc/nixos/web.nix\n"));
    EXPECT_TRUE(spec.config.empty());
    EXPECT_EQ(spec.configFile, "/etc/nixos/web.nix");
}

TEST(SpecFromConf, PortSyntaxes) {
    auto ports = [](const std::string& value) {
        EnvFile conf;
        conf.set("HOST_PORT", value);
        return specFromConf(conf).forwardPorts;
    };
    EXPECT_EQ(ports("8080"), (std::vector<PortForward>{{"tcp", 8080, 0}}));
    EXPECT_EQ(ports("8080:80"), (std::vector<PortForward>{{"tcp", 8080, 80}}));
    EXPECT_EQ(ports("udp:53"), (std::vector<PortForward>{{"udp", 53, 0}}));
    EXPECT_EQ(ports("udp:53:5353"), (std::vector<PortForward>{{"udp", 53, 5353}}));
    EXPECT_EQ(ports("tcp:1:2,,udp:3:4,"), (std::vector<PortForward>{{"tcp", 1, 2}, {"udp", 3, 4}}));
}

TEST(SpecFromConf, RejectsBadValuesNamingKeyAndValue) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"HOST_PORT=tcp:http:80\n", "HOST_PORT entry 'tcp:http:80' has a bad port 'http'"},
        {"HOST_PORT=70000\n", "HOST_PORT entry '70000' has a bad port '70000'"},
        {"HOST_PORT=-1\n", "has a bad port '-1'"},
        {"HOST_PORT=tcp:1:2:3\n", "HOST_PORT entry 'tcp:1:2:3' is not"},
        {"HOST_PORT=tcp::80\n", "has a bad port ''"},
        {"PRIVATE_NETWORK=yes\n", "PRIVATE_NETWORK 'yes' is neither 0 nor 1"},
        {"AUTO_START=true\n", "AUTO_START 'true' is neither 0 nor 1"},
        {"EPHEMERAL=2\n", "EPHEMERAL '2'"},
        {"ALLOWED_DEVICES=/dev/fuse\n", "ALLOWED_DEVICES entry '/dev/fuse' is not node:modifier"},
        {"EXTRA_VETHS=ve-a,1,2\n", "EXTRA_VETHS entry 've-a,1,2' is not"},
        {"EXTRA_VETHS=\"ve-a,,,,, ve-a,,,,,\"\n", "EXTRA_VETHS names 've-a' twice"},
    };
    for (const auto& testCase : cases) {
        // Named references, not structured bindings: clang 15 cannot
        // capture those in a lambda.
        const auto& text = testCase.first;
        const auto& fragment = testCase.second;
        SCOPED_TRACE(text);
        auto conf = EnvFile::parse(text);
        expectInvalid([&] { specFromConf(conf); }, fragment);
    }
}

// ---- confFromSpec ----------------------------------------------------------

ContainerSpec richSpec() {
    ContainerSpec spec;
    spec.systemPath = "/nix/store/abc-nixos-system-web";
    spec.privateNetwork = true;
    spec.network = {"10.233.1.1", "10.233.1.2/24", "fc00::1", "fc00::2/64", ""};
    spec.forwardPorts = {{"tcp", 8080, 80}, {"udp", 53, 53}};
    spec.bindMounts = {{"/mnt", "/host", true}, {"/data", "", false}};
    spec.tmpfs = {"/var", "/tmp:mode=1777"};
    spec.additionalCapabilities = {"CAP_NET_ADMIN", "CAP_MKNOD"};
    spec.allowedDevices = {{"/dev/net/tun", "rw"}, {"/dev/fuse", "rwm"}};
    spec.enableTun = true;
    spec.ephemeral = true;
    spec.autoStart = true;
    spec.timeoutStartSec = "1min 30s";
    spec.extraVeths = {{"ve-a", {"10.1.0.1", "10.1.0.2", "fc01::1", "fc01::2", ""}},
                       {"ve-b", {"", "", "", "", "br1"}}};
    spec.interfaces = {"eth1", "eth2"};
    spec.macvlans = {"enp3s0"};
    spec.extraFlags = {"--drop-capability=CAP_SYS_CHROOT", "-U"};
    return spec;
}

TEST(ConfFromSpec, WritesTheDocumentedFormat) {
    auto conf = confFromSpec(richSpec(), {}, "/etc/nixos-containers/web.nix");
    EXPECT_EQ(conf.serialize(),
              "SYSTEM_PATH=/nix/store/abc-nixos-system-web\n"
              "PRIVATE_NETWORK=1\n"
              "HOST_PORT=tcp:8080:80,udp:53:53\n"
              "HOST_ADDRESS=10.233.1.1\n"
              "HOST_ADDRESS6=fc00::1\n"
              "LOCAL_ADDRESS=10.233.1.2/24\n"
              "LOCAL_ADDRESS6=fc00::2/64\n"
              "INTERFACES=\"eth1 eth2\"\n"
              "MACVLANS=enp3s0\n"
              "AUTO_START=1\n"
              "EXTRA_NSPAWN_FLAGS=\"--bind-ro=/host:/mnt --bind=/data "
              "--drop-capability=CAP_SYS_CHROOT -U\"\n"
              "EPHEMERAL=1\n"
              "ENABLE_TUN=1\n"
              "TIMEOUT_START_SEC=\"1min 30s\"\n"
              "ADDITIONAL_CAPABILITIES=\"CAP_NET_ADMIN CAP_MKNOD\"\n"
              "TMPFS=\"/var /tmp:mode=1777\"\n"
              "ALLOWED_DEVICES=\"/dev/net/tun:rw /dev/fuse:rwm\"\n"
              "EXTRA_VETHS=\"ve-a,10.1.0.1,10.1.0.2,fc01::1,fc01::2, ve-b,,,,,br1\"\n");
}

TEST(ConfFromSpec, RoundTripsRichSpecs) {
    std::vector<ContainerSpec> specs;
    specs.push_back(richSpec());
    ContainerSpec bridged = richSpec();
    bridged.network = {"", "192.168.1.50/24", "", "", "br0"};
    bridged.ephemeral = false;
    bridged.timeoutStartSec = "5min";
    specs.push_back(bridged);
    ContainerSpec flake;
    flake.flake = "github:alice/containers#web";
    flake.additionalCapabilities = {"all"};
    specs.push_back(flake);
    ContainerSpec file;
    file.configFile = "/etc/nixos/my containers/web.nix";  // needs quoting
    specs.push_back(file);
    ContainerSpec defaults;
    specs.push_back(defaults);

    for (const auto& spec : specs) {
        auto text = confFromSpec(spec, {}, "/etc/nixos-containers/web.nix").serialize();
        SCOPED_TRACE(text);
        EXPECT_EQ(specFromConf(EnvFile::parse(text)), spec);
    }
}

TEST(ConfFromSpec, ConfigTextGoesToItsFile) {
    ContainerSpec spec;
    spec.config = "services.nginx.enable = true;";
    auto conf = confFromSpec(spec, {}, "/etc/nixos-containers/web.nix");
    ASSERT_NE(conf.find("CONFIG_TEXT_FILE"), nullptr);
    EXPECT_EQ(*conf.find("CONFIG_TEXT_FILE"), "/etc/nixos-containers/web.nix");
    // The text itself is the store's business, not the conf's.
    EXPECT_EQ(conf.serialize().find("nginx"), std::string::npos);

    spec.config.clear();
    spec.systemPath = "/nix/store/x";
    conf = confFromSpec(spec, conf, "/etc/nixos-containers/web.nix");
    EXPECT_EQ(conf.find("CONFIG_TEXT_FILE"), nullptr);
}

TEST(ConfFromSpec, NetworkKeysOnlyWithPrivateNetwork) {
    ContainerSpec spec = richSpec();
    spec.privateNetwork = false;
    auto conf = confFromSpec(spec, {}, "/x.nix");
    for (const char* key : {"PRIVATE_NETWORK", "HOST_BRIDGE", "HOST_PORT", "HOST_ADDRESS", "HOST_ADDRESS6",
                            "LOCAL_ADDRESS", "LOCAL_ADDRESS6"}) {
        EXPECT_EQ(conf.find(key), nullptr) << key;
    }
}

TEST(ConfFromSpec, ContainerPortZeroIsWrittenAsTheHostPort) {
    ContainerSpec spec;
    spec.systemPath = "/nix/store/x";
    spec.privateNetwork = true;
    spec.forwardPorts = {{"tcp", 8080, 0}};
    auto conf = confFromSpec(spec, {}, "/x.nix");
    ASSERT_NE(conf.find("HOST_PORT"), nullptr);
    EXPECT_EQ(*conf.find("HOST_PORT"), "tcp:8080:8080");  // the module's mkPortStr
}

TEST(ConfFromSpec, KeepsUnknownKeysAndDropsUnsetOnes) {
    auto base = EnvFile::parse(readFixture("service-full.conf"));
    ContainerSpec spec;
    spec.systemPath = "/nix/store/new-system";
    auto conf = confFromSpec(spec, base, "/x.nix");
    EXPECT_EQ(conf.entries(), (Entries{{"SYSTEM_PATH", "/nix/store/new-system"},
                                       {"MY_NOTE", "kept as it is"},
                                       {"OTHER_TOOL_KEY", "value with spaces"}}));
    EXPECT_EQ(conf.serialize(),
              "SYSTEM_PATH=/nix/store/new-system\n"
              "MY_NOTE=\"kept as it is\"\n"
              "OTHER_TOOL_KEY=\"value with spaces\"\n");
}

TEST(ConfFromSpec, ModuleFixturesSurviveARewrite) {
    for (const char* name :
         {"module-minimal.conf", "module-veth.conf", "module-bridge.conf", "nixos-container-config.conf",
          "nixos-container-flake.conf", "service-full.conf"}) {
        SCOPED_TRACE(name);
        auto original = EnvFile::parse(readFixture(name));
        auto spec = specFromConf(original);
        auto rewritten = confFromSpec(spec, original, "/x.nix");
        auto reread = specFromConf(EnvFile::parse(rewritten.serialize()));
        // containerPort 0 (nspawn's bare "5432") is written the module's way,
        // as the host port: the same forwarding.
        for (auto& port : spec.forwardPorts) {
            if (port.containerPort == 0)
                port.containerPort = port.hostPort;
        }
        EXPECT_EQ(reread, spec);
        // Unknown keys stay, in their order.
        if (std::string(name) == "service-full.conf") {
            ASSERT_NE(rewritten.find("MY_NOTE"), nullptr);
            EXPECT_EQ(*rewritten.find("MY_NOTE"), "kept as it is");
        }
    }
}

TEST(ConfFromSpec, RefusesItemsThatWouldNotComeBack) {
    ContainerSpec spec;
    spec.systemPath = "/nix/store/x";
    spec.privateNetwork = true;
    spec.interfaces = {"eth 1"};
    expectInvalid([&] { confFromSpec(spec, {}, "/x.nix"); }, "INTERFACES item 'eth 1'");
    spec.interfaces.clear();
    spec.extraVeths["ve-a"].hostBridge = "br,0";
    expectInvalid([&] { confFromSpec(spec, {}, "/x.nix"); }, "EXTRA_VETHS item 'br,0'");
    spec.extraVeths.clear();
    spec.extraFlags = {"--setenv=A=$B"};
    expectInvalid([&] { confFromSpec(spec, {}, "/x.nix"); }, "EXTRA_NSPAWN_FLAGS value");
}

}  // namespace
}  // namespace nixos_containers
