// Inspect's JSON: every spec key under its bus name with the value the
// property shows, plus the live fields.
#include "container_json.h"
#include "spec_keys.h"

#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

Container richContainer() {
    Container container;
    container.name = "web";
    container.state = ContainerState::Running;
    container.unit = "container@web.service";
    container.leader = 4242;
    container.owner = 61004;
    container.hostInterface = "ve-web";
    container.root = "/var/lib/nixos-containers/web";
    container.systemOnHost = "/nix/store/abc-nixos-system-web";
    container.addresses = {"10.233.1.2"};
    auto& spec = container.spec;
    spec.config = "{ services.nginx.enable = true; }";
    spec.privateNetwork = true;
    spec.network = {"10.233.1.1", "10.233.1.2/24", "fc00::1", "fc00::2/64", ""};
    spec.forwardPorts = {{"tcp", 8080, 0}, {"udp", 53, 5353}};
    spec.bindMounts = {{"/mnt", "/host", true}, {"/data", "", false}};
    spec.tmpfs = {"/var"};
    spec.additionalCapabilities = {"CAP_MKNOD"};
    spec.allowedDevices = {{"/dev/fuse", "rwm"}};
    spec.enableTun = true;
    spec.ephemeral = true;
    spec.autoStart = true;
    spec.timeoutStartSec = "90s";
    spec.extraVeths = {{"ve-b", {"", "", "", "", "br1"}}};
    spec.interfaces = {"eth1"};
    spec.macvlans = {"enp3s0"};
    spec.extraFlags = {"-U"};
    return container;
}

// Config text and the last error can hold secrets: blank for a caller who
// may not see them, and named so the blank is not read as "none".
TEST(ContainerJson, WithoutSecretsConfigAndTheLastErrorAreBlankAndNamed) {
    auto container = richContainer();
    container.lastError = "build failed: password=hunter2";
    const auto open = toJson(container, true);
    EXPECT_EQ(open["Config"], container.spec.config);
    EXPECT_EQ(open["LastError"], container.lastError);
    const auto redacted = toJson(container, false);
    EXPECT_EQ(redacted["Config"], "");
    EXPECT_EQ(redacted["LastError"], "");
    EXPECT_EQ(redacted["Redacted"], nlohmann::json::array({"LastError", "Config"}));
    EXPECT_EQ(redacted.dump().find("hunter2"), std::string::npos);
    EXPECT_EQ(redacted.dump().find("nginx"), std::string::npos);
    // The property never shows it.
    EXPECT_EQ(std::get<std::string>(shownValue(specKey("Config"), container)), "");
}

TEST(ContainerJson, EveryRowAppears) {
    const auto json = toJson(richContainer());
    for (const auto& key : specKeys()) {
        EXPECT_TRUE(json.contains(std::string(key.busName))) << key.busName;
    }
}

TEST(ContainerJson, PlainKeysHaveTheirValues) {
    const auto container = richContainer();
    const auto json = toJson(container);
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        const auto& written = json.at(std::string(key.busName));
        const auto value = shownValue(key, container, true);
        if (const auto* text = std::get_if<std::string>(&value)) {
            EXPECT_EQ(written, *text);
        } else if (const auto* flag = std::get_if<bool>(&value)) {
            EXPECT_EQ(written, *flag);
        } else if (const auto* words = std::get_if<std::vector<std::string>>(&value)) {
            EXPECT_EQ(written, *words);
        }
    }
    EXPECT_EQ(json["Config"], "{ services.nginx.enable = true; }");
    EXPECT_EQ(json["LocalAddress6"], "fc00::2/64");
    EXPECT_EQ(json["TimeoutStartSec"], "90s");
    EXPECT_EQ(json["EnableTun"], true);
    EXPECT_EQ(json["Macvlans"], nlohmann::json::array({"enp3s0"}));
}

TEST(ContainerJson, StructuredKeysAndImplicitDefaults) {
    const auto json = toJson(richContainer());
    // A built system shows the system it runs.
    EXPECT_EQ(json["SystemPath"], "/nix/store/abc-nixos-system-web");
    // Container port 0 is the host port; an empty host path the mount point.
    EXPECT_EQ(json["ForwardPorts"], nlohmann::json::parse(R"([
        {"Protocol": "tcp", "HostPort": 8080, "ContainerPort": 8080},
        {"Protocol": "udp", "HostPort": 53, "ContainerPort": 5353}])"));
    EXPECT_EQ(json["BindMounts"], nlohmann::json::parse(R"([
        {"MountPoint": "/mnt", "HostPath": "/host", "ReadOnly": true},
        {"MountPoint": "/data", "HostPath": "/data", "ReadOnly": false}])"));
    EXPECT_EQ(json["AllowedDevices"], nlohmann::json::parse(R"([{"Node": "/dev/fuse", "Modifier": "rwm"}])"));
    EXPECT_EQ(json["ExtraVeths"], nlohmann::json::parse(R"({"ve-b": {"HostAddress": "", "LocalAddress": "",
        "HostAddress6": "", "LocalAddress6": "", "HostBridge": "br1"}})"));
}

TEST(ContainerJson, LiveFields) {
    const auto json = toJson(richContainer());
    EXPECT_EQ(json["Name"], "web");
    EXPECT_EQ(json["State"], "running");
    EXPECT_EQ(json["Declarative"], false);
    EXPECT_EQ(json["Unit"], "container@web.service");
    EXPECT_EQ(json["Leader"], 4242);
    EXPECT_EQ(json["HostInterface"], "ve-web");
    EXPECT_EQ(json["RootDirectory"], "/var/lib/nixos-containers/web");
    EXPECT_EQ(json["Addresses"], nlohmann::json::array({"10.233.1.2"}));
    EXPECT_EQ(json["Operation"], "");
    EXPECT_EQ(json["LastError"], "");
    EXPECT_EQ(json["Owner"], 61004);
    EXPECT_EQ(json["UnitResult"], "");
    EXPECT_EQ(json["Broken"], "");
    EXPECT_EQ(json["Generations"], nlohmann::json::array());
    // The spec keys and these, nothing else.
    EXPECT_EQ(json.size(), specKeys().size() + 15);  // and Redacted
    EXPECT_EQ(json["Redacted"], nlohmann::json::array());
}

TEST(ContainerJson, GivenSystemPathIsShownAsGiven) {
    auto container = richContainer();
    container.spec.config.clear();
    container.spec.systemPath = "/nix/store/given";
    EXPECT_EQ(toJson(container)["SystemPath"], "/nix/store/given");
}

}  // namespace
}  // namespace nixos_containers
