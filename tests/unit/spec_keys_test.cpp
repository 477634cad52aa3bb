// The spec-key registry held against the interface XML, the single source of
// the API: every documented spec key and spec property has a row of the same
// D-Bus type, and every row is documented.
#include "spec_keys.h"
#include "conf_file.h"
#include "unit_limits.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace nixos_containers {
namespace {

std::string readInterface(const std::string& file) {
    std::ifstream in(std::string(INTERFACES_DIR) + "/" + file);
    EXPECT_TRUE(in) << "cannot read " << file;
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Property name -> type signature, from org.nixos.Containers.Container.xml.
std::map<std::string, std::string> containerProperties() {
    const auto xml = readInterface("org.nixos.Containers.Container.xml");
    std::map<std::string, std::string> properties;
    const std::regex property(R"re(<property name="(\w+)" type="([^"]+)")re");
    for (auto match = std::sregex_iterator(xml.begin(), xml.end(), property); match != std::sregex_iterator();
         ++match) {
        properties.emplace((*match)[1], (*match)[2]);
    }
    return properties;
}

// Key -> type signature, from Create's doc in org.nixos.Containers.xml,
// whose lines read "  Key sig: ..." or "  Key sig, Other sig: ...".
std::map<std::string, std::string> createDocKeys() {
    const auto xml = readInterface("org.nixos.Containers.xml");
    const auto start = xml.find("<method name=\"Create\">");
    const auto end = xml.find("</method>", start);
    EXPECT_NE(start, std::string::npos);
    const auto doc = xml.substr(start, end - start);
    const std::regex line(R"re(\n\s+(\w+ [a-z(){}]+(?:, \w+ [a-z(){}]+)*):)re");
    const std::regex pair(R"re((\w+) ([a-z(){}]+))re");
    std::map<std::string, std::string> keys;
    for (auto match = std::sregex_iterator(doc.begin(), doc.end(), line); match != std::sregex_iterator();
         ++match) {
        const std::string names = (*match)[1];
        for (auto item = std::sregex_iterator(names.begin(), names.end(), pair);
             item != std::sregex_iterator(); ++item) {
            keys.emplace((*item)[1], (*item)[2]);
        }
    }
    return keys;
}

// The container's live properties: no spec key, no row.
const std::set<std::string> kLiveProperties = {"Name",        "State",         "Declarative",   "Unit",
                                               "Leader",      "HostInterface", "RootDirectory", "Addresses",
                                               "MachinePath", "Timestamp",     "OSRelease",     "Owner",
                                               "UnitResult",  "Generations",   "Broken"};

TEST(SpecKeys, EveryRowIsACreateKeyOfTheSameType) {
    const auto documented = createDocKeys();
    ASSERT_GE(documented.size(), 20U) << "the Create doc's key list was not found";
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        auto found = documented.find(std::string(key.busName));
        ASSERT_NE(found, documented.end()) << "a row the Create doc does not list";
        EXPECT_EQ(found->second, busSignature(key.kind));
    }
}

TEST(SpecKeys, EveryCreateKeyHasARow) {
    for (const auto& [name, signature] : createDocKeys()) {
        EXPECT_NE(findSpecKey(name), nullptr)
            << "Create documents " << name << " " << signature << ", which has no row in spec_keys.cpp";
    }
}

TEST(SpecKeys, EveryRowIsAPropertyOfTheSameType) {
    const auto properties = containerProperties();
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        auto found = properties.find(std::string(key.busName));
        ASSERT_NE(found, properties.end()) << "a row without a property";
        EXPECT_EQ(found->second, busSignature(key.kind));
    }
}

TEST(SpecKeys, EveryPropertyIsARowOrLive) {
    for (const auto& [name, signature] : containerProperties()) {
        EXPECT_TRUE(findSpecKey(name) != nullptr || kLiveProperties.contains(name))
            << "property " << name << " " << signature << " is neither a spec key's row nor a live property";
    }
}

TEST(SpecKeys, NamesAreUniqueAndFound) {
    std::set<std::string_view> names;
    std::set<std::string_view> confKeys;
    for (const auto& key : specKeys()) {
        EXPECT_TRUE(names.insert(key.busName).second) << key.busName;
        EXPECT_TRUE(key.confKey.empty() || confKeys.insert(key.confKey).second) << key.confKey;
        EXPECT_EQ(findSpecKey(key.busName), &key);
    }
    EXPECT_EQ(findSpecKey("Colour"), nullptr);
    EXPECT_THROW((void)specKey("Colour"), std::out_of_range);
}

TEST(SpecKeys, KeysThatGiveTheHostAwayAreMarked) {
    const std::set<std::string> reaching = {
        "BindMounts", "AdditionalCapabilities", "AllowedDevices", "EnableTun", "Interfaces", "Macvlans",
        "HostBridge", "ExtraVeths", "ExtraFlags", "HostAddress", "LocalAddress", "HostAddress6",
        "LocalAddress6", "ForwardPorts", "Config", "ConfigFile", "Flake", "PrivateUsers", "NixosPath",
        "NetworkNamespace", "NixFlags",
        // Above the admin's tenant limits (issue 25).
        "MemoryMax", "MemoryHigh", "CPUWeight", "CPUQuota", "TasksMax", "IOWeight"};
    for (const auto& key : specKeys()) {
        EXPECT_EQ(key.asksHost != nullptr, reaching.contains(std::string(key.busName))) << key.busName;
    }
}

// What keeps a container confined, key by key; everything else asks for the host.
TEST(SpecKeys, HostAccessIsAskedForByValue) {
    auto with_ = [](auto make) { return make(); };
    Settings settings;
    settings.confinedBindRoots = {"/srv/shared"};
    auto asked = [&settings](const ContainerSpec& spec) { return hostAccessKeys(spec, settings); };
    ContainerSpec confined;
    confined.systemPath = "/nix/store/x-system";
    confined.privateUsers = "pick";
    confined.privateNetwork = true;
    confined.network.hostAddress = "10.233.4.1";
    confined.network.localAddress = "10.233.4.2";
    confined.forwardPorts = {{"tcp", 8080, 80}};
    confined.bindMounts = {{"/data", "/srv/shared/web", true}};
    confined.tmpfs = {"/var/tmp"};
    confined.memoryMax = "1G";
    confined.tasksMax = "4096";  // the tenant limits' defaults: no more, and not none
    EXPECT_TRUE(asked(confined).empty());
    // Issue 25: a limit above the admin's tenant limit, or none, asks.
    EXPECT_EQ(asked(with_([&confined] {
                  auto spec = confined;
                  spec.tasksMax = "infinity";
                  return spec;
              })),
              std::vector<std::string>{"TasksMax"});
    EXPECT_EQ(asked(with_([&confined] {
                  auto spec = confined;
                  spec.memoryMax.clear();
                  spec.tasksMax = "4097";
                  return spec;
              })),
              (std::vector<std::string>{"MemoryMax", "TasksMax"}));
    EXPECT_TRUE(asked(with_([&confined] {
                    auto spec = confined;
                    spec.cpuQuota = "800%";  // no tenant limit for CPUQuota by default
                    return spec;
                })).empty());

    auto with = [&confined](auto change) {
        auto spec = confined;
        change(spec);
        return spec;
    };
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.bindMounts[0].readOnly = false; })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.bindMounts[0].hostPath = "/srv/shared/../../etc"; })),
              std::vector<std::string>{"BindMounts"});
    // A link beneath a confined root is followed.
    const auto top = std::filesystem::temp_directory_path() / ("host-access-" + std::to_string(::getpid()));
    std::filesystem::create_directories(top / "shared");
    std::filesystem::create_symlink("/etc", top / "shared/escape");
    settings.confinedBindRoots = {top / "shared"};
    EXPECT_EQ(asked(with(
                  [&top](ContainerSpec& s) { s.bindMounts[0].hostPath = (top / "shared/escape").string(); })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_TRUE(asked(with([&top](ContainerSpec& s) {
                    s.bindMounts[0].hostPath = (top / "shared/data").string();
                })).empty());
    // Issue 25: nor one that stays inside: nspawn would follow it wherever
    // it points when the container starts.
    std::filesystem::create_directories(top / "shared/data");
    std::filesystem::create_symlink("data", top / "shared/inside");
    EXPECT_EQ(asked(with([&top](ContainerSpec& s) {
                  s.bindMounts[0].hostPath = (top / "shared/inside/x").string();
              })),
              std::vector<std::string>{"BindMounts"});
    // The root itself given through a link still confines what is below it.
    std::filesystem::create_symlink(top / "shared", top / "shared-link");
    settings.confinedBindRoots = {top / "shared-link"};
    EXPECT_TRUE(asked(with([&top](ContainerSpec& s) {
                    s.bindMounts[0].hostPath = (top / "shared-link/data").string();
                })).empty());
    EXPECT_TRUE(asked(with([&top](ContainerSpec& s) {
                    s.bindMounts[0].hostPath = (top / "shared/data").string();
                })).empty());
    std::filesystem::remove_all(top);
    settings.confinedBindRoots = {"/srv/shared"};
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.bindMounts[0].hostPath = "/srv/shared-not"; })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.forwardPorts[0].hostPort = 22; })),
              std::vector<std::string>{"ForwardPorts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.network.localAddress = "192.168.1.10"; })),
              std::vector<std::string>{"LocalAddress"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.network.localAddress6 = "fc00::2"; })),
              std::vector<std::string>{"LocalAddress6"});
    // A prefix routes what it covers into the container: /1 is half of IPv4.
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.network.hostAddress = "10.233.4.1/1"; })),
              std::vector<std::string>{"HostAddress"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.network.localAddress = "10.233.4.2/24"; })),
              std::vector<std::string>{"LocalAddress"});
    EXPECT_TRUE(asked(with([](ContainerSpec& s) { s.network.localAddress = "10.233.4.2/32"; })).empty());
    // Issue 29: the pool is a setting; an address outside the admin's pool
    // (nixos-container's 10.233 included) is the host's.
    settings.ipv4Pool = "172.20.0.0/16";
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.network.localAddress = "10.233.4.2"; })),
              (std::vector<std::string>{"HostAddress", "LocalAddress"}));
    EXPECT_TRUE(asked(with([](ContainerSpec& s) {
                    s.network.hostAddress = "172.20.4.1";
                    s.network.localAddress = "172.20.4.2/32";
                })).empty());
    settings.ipv4Pool = "10.233.0.0/16";
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.additionalCapabilities = {"CAP_SYS_MODULE"}; })),
              std::vector<std::string>{"AdditionalCapabilities"});
    // Issue 25: an ExtraFlags option is judged as the key that gives the
    // same, so that a rule granting host access by key is not stepped around.
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--bind=/:/host:rbind"}; })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--overlay=/etc:/tmp:/etc"}; })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--load-credential=x:/etc/shadow"}; })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--bind-user=root"}; })),
              std::vector<std::string>{"BindMounts"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--capability=all"}; })),
              std::vector<std::string>{"AdditionalCapabilities"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--oom-score-adjust=-1000"}; })),
              std::vector<std::string>{"ExtraFlags"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--resolv-conf=bind-host"}; })),
              std::vector<std::string>{"ExtraFlags"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.extraFlags = {"--system-call-filter=@clock"}; })),
              std::vector<std::string>{"ExtraFlags"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) {
                  s.extraFlags = {"--hostname=x", "--capability=CAP_NET_ADMIN", "--bind-ro=/etc:/e:norbind"};
              })),
              (std::vector<std::string>{"BindMounts", "AdditionalCapabilities"}));
    // What keeps the container confined asks for nothing.
    EXPECT_TRUE(asked(with([](ContainerSpec& s) {
                    s.extraFlags = {"--hostname=x",
                                    "--setenv=A=b",
                                    "--drop-capability=CAP_CHOWN",
                                    "--oom-score-adjust=500",
                                    "--resolv-conf=copy-host",
                                    "--system-call-filter=~@clock",
                                    "--timezone=copy",
                                    "--no-new-privileges=yes",
                                    "--quiet"};
                })).empty());
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.enableTun = true; })),
              std::vector<std::string>{"EnableTun"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.network.hostBridge = "br0"; })),
              std::vector<std::string>{"HostBridge"});
    // The module's default: the container's root is the host's.
    EXPECT_EQ(asked(with([](ContainerSpec& s) { s.privateUsers = "no"; })),
              std::vector<std::string>{"PrivateUsers"});
    EXPECT_EQ(asked(with([](ContainerSpec& s) {
                  s.systemPath.clear();
                  s.config = "{ }";
              })),
              std::vector<std::string>{"Config"});
}

// An Update asks only for what it changes: a container keeps what it was given.
TEST(SpecKeys, AnUpdateAsksOnlyForTheHostAccessItAdds) {
    Settings settings;
    ContainerSpec before;
    before.systemPath = "/nix/store/x-system";
    before.bindMounts = {{"/host", "/", false}};
    auto after = before;
    after.autoStart = true;
    EXPECT_TRUE(hostAccessKeys(before, after, settings).empty());
    after.additionalCapabilities = {"CAP_NET_ADMIN"};
    EXPECT_EQ(hostAccessKeys(before, after, settings), std::vector<std::string>{"AdditionalCapabilities"});

    // A capability through ExtraFlags asks as a capability, also when
    // another one was given the same way before.
    before = after;
    after.extraFlags = {"--capability=CAP_SYS_ADMIN"};
    EXPECT_EQ(hostAccessKeys(before, after, settings), std::vector<std::string>{"AdditionalCapabilities"});
    before = after;
    after.extraFlags = {"--capability=all"};
    EXPECT_EQ(hostAccessKeys(before, after, settings), std::vector<std::string>{"AdditionalCapabilities"});
    before = after;
    after.extraFlags.push_back("--hostname=web");
    EXPECT_TRUE(hostAccessKeys(before, after, settings).empty());
}

// Every Update of a built container builds it again as root, from what its
// source names now: the source asks each time, whatever else changes.
TEST(SpecKeys, AnUpdateThatRebuildsAsksForItsSourceEveryTime) {
    Settings settings;
    ContainerSpec before;
    before.configFile = "/home/alice/web.nix";
    auto after = before;
    after.autoStart = true;
    EXPECT_EQ(hostAccessKeys(before, after, settings), std::vector<std::string>{"ConfigFile"});
    EXPECT_EQ(hostAccessKeys(before, before, settings), std::vector<std::string>{"ConfigFile"});
    // A system path builds nothing.
    before = {};
    before.systemPath = "/nix/store/x-system";
    after = before;
    after.autoStart = true;
    EXPECT_TRUE(hostAccessKeys(before, after, settings).empty());
}

TEST(SpecKeys, SourcesAreTheFourSystemKeys) {
    std::set<std::string_view> sources;
    for (const auto& key : specKeys()) {
        if (key.systemSource) {
            sources.insert(key.busName);
        }
    }
    EXPECT_EQ(sources, (std::set<std::string_view>{"SystemPath", "Config", "ConfigFile", "Flake"}));
}

// A value unlike the default of its kind, to change one key at a time.
SpecValue otherValue(const SpecKey& key) {
    switch (key.kind) {
        case SpecKind::String:
            return std::string("something else");
        case SpecKind::Flag:
            return !std::get<bool>(key.defaultValue());
        case SpecKind::Words:
            return std::vector<std::string>{"word"};
        case SpecKind::Ports:
            return std::vector<PortForward>{{"tcp", 80, 8080}};
        case SpecKind::BindMounts:
            return std::vector<BindMount>{{"/mnt", "/srv", true}};
        case SpecKind::Devices:
            return std::vector<AllowedDevice>{{"/dev/fuse", "rw"}};
        case SpecKind::Veths:
            return std::map<std::string, NetworkOptions>{{"ve-a", {"10.0.0.1", "", "", "", ""}}};
    }
    return {};
}

TEST(SpecKeys, GetReadsWhatSetWrote) {
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        EXPECT_EQ(key.defaultValue().index(), static_cast<std::size_t>(key.kind));
        ContainerSpec spec;
        key.set(spec, otherValue(key));
        EXPECT_EQ(key.get(spec), otherValue(key));
        EXPECT_NE(spec, ContainerSpec{}) << "set reached no field";
        // No other row sees the change.
        for (const auto& other : specKeys()) {
            if (&other != &key) {
                EXPECT_EQ(other.get(spec), other.defaultValue()) << other.busName;
            }
        }
    }
}

// Every plain key, away from its default, is written to NAME.conf and read
// back as it was (a flag whose default is true is written as 0).
TEST(SpecKeys, EveryPlainKeyRoundTripsThroughTheConf) {
    for (const auto& key : specKeys()) {
        if (key.confKey.empty()) {
            continue;
        }
        SCOPED_TRACE(std::string(key.busName));
        ContainerSpec spec;
        spec.privateNetwork = true;  // for the keys the module writes only with it
        key.set(spec, otherValue(key));
        auto conf = confFromSpec(spec, EnvFile{}, "/etc/nixos-containers/web.nix");
        EXPECT_NE(conf.find(key.confKey), nullptr);
        EXPECT_EQ(key.get(specFromConf(conf)), otherValue(key));
    }
}

TEST(SpecKeys, UpdateEffectsComeFromTheRows) {
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        ContainerSpec after;
        key.set(after, otherValue(key));
        const bool limit = std::any_of(unitLimitKeys().begin(), unitLimitKeys().end(),
                                       [&key](const UnitLimitKey& l) { return l.key == key.busName; });
        // What a build evaluates is the system's: a rebuild, then a reload.
        const bool buildInput = key.systemSource || key.busName == "NixosPath" || key.busName == "NixFlags";
        const auto expected = key.busName == "AutoStart" ? UpdateEffect::None
                              : limit                    ? UpdateEffect::Live
                              : buildInput               ? UpdateEffect::Reload
                                                         : UpdateEffect::Restart;
        EXPECT_EQ(classifyUpdate(ContainerSpec{}, after), expected);
        EXPECT_EQ(sourceChanged(ContainerSpec{}, after), key.systemSource);
    }
    EXPECT_EQ(classifyUpdate(ContainerSpec{}, ContainerSpec{}), UpdateEffect::None);
    // The most any changed key asks for.
    ContainerSpec both;
    both.config = "{ }";
    both.ephemeral = true;
    EXPECT_EQ(classifyUpdate(ContainerSpec{}, both), UpdateEffect::Restart);
}

TEST(SpecKeys, ShownValuesMakeTheImplicitDefaultsExplicit) {
    Container container;
    container.systemOnHost = "/nix/store/built-system";
    container.spec.forwardPorts = {{"tcp", 8080, 0}, {"udp", 53, 5353}};
    container.spec.bindMounts = {{"/data", "", false}, {"/mnt", "/host", true}};
    EXPECT_EQ(shownValue(specKey("SystemPath"), container),
              SpecValue(std::string("/nix/store/built-system")));
    EXPECT_EQ(shownValue(specKey("ForwardPorts"), container),
              SpecValue(std::vector<PortForward>{{"tcp", 8080, 8080}, {"udp", 53, 5353}}));
    EXPECT_EQ(shownValue(specKey("BindMounts"), container),
              SpecValue(std::vector<BindMount>{{"/data", "/data", false}, {"/mnt", "/host", true}}));
    container.spec.systemPath = "/nix/store/given-system";
    EXPECT_EQ(shownValue(specKey("SystemPath"), container),
              SpecValue(std::string("/nix/store/given-system")));
}

TEST(SpecKeys, SettingForwardPortsStoresTheContainerPort) {
    ContainerSpec spec;
    specKey("ForwardPorts").set(spec, std::vector<PortForward>{{"tcp", 8080, 0}});
    EXPECT_EQ(spec.forwardPorts, (std::vector<PortForward>{{"tcp", 8080, 8080}}));
}

}  // namespace

// The manager's SpecKeys property: one row per key, in the rows' order, its
// word from the function Update decides with, its host flag the row's.
TEST(SpecKeys, SummariesComeFromTheRows) {
    const auto summaries = specKeySummaries();
    ASSERT_EQ(summaries.size(), specKeys().size());
    std::map<std::string, std::string> words;
    for (std::size_t index = 0; index < summaries.size(); ++index) {
        const auto& key = specKeys()[index];
        EXPECT_EQ(summaries[index].key, key.busName);
        EXPECT_EQ(summaries[index].signature, busSignature(key.kind));
        EXPECT_EQ(summaries[index].onUpdate, updateEffectWord(updateEffectOf(key)));
        EXPECT_EQ(summaries[index].needsHostAccess, key.asksHost != nullptr) << key.busName;
        words[std::string(key.busName)] = std::string(summaries[index].onUpdate);
    }
    EXPECT_EQ(words["AutoStart"], "stored");
    EXPECT_EQ(words["MemoryMax"], "live");
    EXPECT_EQ(words["TimeoutStartSec"], "restart");
    EXPECT_EQ(words["SystemPath"], "reload");
    EXPECT_EQ(words["NixFlags"], "reload");
    EXPECT_EQ(words["Tmpfs"], "restart");
    EXPECT_EQ(summaries.front().signature, "s");
}

}  // namespace nixos_containers
