// The contract as a client sees it: introspection, the object manager, and
// Create from a SystemPath with everything it publishes.
#include "bus_fixture.h"

#include <gmock/gmock.h>

namespace bus_tests {
namespace {

using ::testing::HasSubstr;

using ApiTest = BusTest;
using ManagedObjects =
    std::map<sdbus::ObjectPath, std::map<std::string, std::map<std::string, sdbus::Variant>>>;

TEST_F(ApiTest, IntrospectionShowsTheContract) {
    auto result = busctl({"introspect", kService, kManagerPath});
    ASSERT_EQ(result.exitStatus, 0) << result.output;
    for (const char* member :
         {".Create", ".Start", ".Stop", ".Restart", ".Terminate", ".Reload", ".Update", ".Destroy", ".List",
          ".GetContainer", ".Inspect", ".ContainerNew", ".ContainerRemoved", ".BuildOutput",
          "org.freedesktop.DBus.ObjectManager", ".GetManagedObjects"}) {
        EXPECT_THAT(result.output, HasSubstr(member));
    }
    EXPECT_THAT(result.output, HasSubstr("sa{sv}"));
    EXPECT_THAT(result.output, HasSubstr("a(ssbo)"));
}

TEST_F(ApiTest, ObjectManagerListsContainersWithTheirProperties) {
    ManagedObjects objects;
    manager()
        .callMethod("GetManagedObjects")
        .onInterface("org.freedesktop.DBus.ObjectManager")
        .storeResultsTo(objects);
    EXPECT_TRUE(objects.empty());

    createSimple("web");
    createSimple("db");
    manager()
        .callMethod("GetManagedObjects")
        .onInterface("org.freedesktop.DBus.ObjectManager")
        .storeResultsTo(objects);
    ASSERT_EQ(objects.size(), 2U);
    auto web = objects.find(sdbus::ObjectPath(containerPath("web")));
    ASSERT_NE(web, objects.end());
    ASSERT_TRUE(web->second.contains(kContainerInterface));
    const auto& properties = web->second.at(kContainerInterface);
    EXPECT_EQ(properties.at("Name").get<std::string>(), "web");
    EXPECT_EQ(properties.at("State").get<std::string>(), "stopped");
    EXPECT_EQ(properties.at("SystemPath").get<std::string>(), system().string());
}

TEST_F(ApiTest, CreateFromSystemPathPublishesEverything) {
    Spec spec = {
        {"SystemPath", sdbus::Variant(system().string())},
        {"PrivateNetwork", sdbus::Variant(true)},
        {"ForwardPorts", sdbus::Variant(std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>>{
                             {"tcp", 8080, 80}})},
        {"AutoStart", sdbus::Variant(false)}};
    auto path = create("web-1", spec);
    // '-' is escaped as systemd's bus_label_escape does.
    EXPECT_EQ(std::string(path), "/org/nixos/Containers/container/web_2d1");
    EXPECT_EQ(std::string(path), containerPath("web-1"));

    auto conf = readConf("web-1");
    EXPECT_EQ(conf["SYSTEM_PATH"], system().string());
    EXPECT_EQ(conf["PRIVATE_NETWORK"], "1");
    EXPECT_EQ(conf["HOST_ADDRESS"], "10.233.0.1");
    EXPECT_EQ(conf["LOCAL_ADDRESS"], "10.233.0.2");
    EXPECT_EQ(conf["HOST_PORT"], "tcp:8080:80");
    // The profile's current generation (system -> system-1-link -> the system).
    EXPECT_EQ(fs::canonical(profilesDir() / "web-1" / "system"), fs::canonical(system()));

    EXPECT_TRUE(waitUntil([&] { return sawSignal("ContainerNew", "web-1"); }));
    auto signalsSeen = signals();
    auto created = std::find_if(signalsSeen.begin(), signalsSeen.end(),
                                [](const auto& s) { return s.member == "ContainerNew"; });
    ASSERT_NE(created, signalsSeen.end());
    EXPECT_EQ(created->args.at(1), containerPath("web-1"));

    auto rows = list();
    ASSERT_EQ(rows.size(), 1U);
    EXPECT_EQ(rows[0].get<0>(), "web-1");
    EXPECT_EQ(rows[0].get<1>(), "stopped");
    EXPECT_FALSE(rows[0].get<2>());
    EXPECT_EQ(std::string(rows[0].get<3>()), containerPath("web-1"));

    sdbus::ObjectPath got;
    manager()
        .callMethod("GetContainer")
        .onInterface(kManagerInterface)
        .withArguments(std::string("web-1"))
        .storeResultsTo(got);
    EXPECT_EQ(std::string(got), containerPath("web-1"));

    auto json = inspect("web-1");
    EXPECT_EQ(json["Name"], "web-1");
    EXPECT_EQ(json["State"], "stopped");
    EXPECT_EQ(json["Declarative"], false);
    EXPECT_EQ(json["Owner"], 0);  // root created it
    EXPECT_EQ(json["SystemPath"], system().string());
    EXPECT_EQ(json["PrivateNetwork"], true);
    EXPECT_EQ(json["HostAddress"], "10.233.0.1");
    EXPECT_EQ(json["LocalAddress"], "10.233.0.2");
    EXPECT_EQ(json["Unit"], "nixos-container@web-1.service");
    EXPECT_EQ(json["RootDirectory"], (stateDir() / "web-1").string());
    EXPECT_EQ(json["Leader"], 0);
    ASSERT_EQ(json["ForwardPorts"].size(), 1U);
    EXPECT_EQ(json["ForwardPorts"][0]["HostPort"], 8080);

    EXPECT_EQ(property<std::string>("web-1", "Name"), "web-1");
    EXPECT_EQ(property<std::string>("web-1", "State"), "stopped");
    EXPECT_EQ(property<bool>("web-1", "PrivateNetwork"), true);
    EXPECT_EQ(property<std::string>("web-1", "HostAddress"), "10.233.0.1");
    EXPECT_EQ(property<std::string>("web-1", "LocalAddress"), "10.233.0.2");
    EXPECT_EQ(property<std::string>("web-1", "Unit"), "nixos-container@web-1.service");
    EXPECT_EQ(property<std::uint32_t>("web-1", "Leader"), 0U);
    EXPECT_EQ(property<bool>("web-1", "Declarative"), false);
    EXPECT_EQ(property<std::string>("web-1", "RootDirectory"), (stateDir() / "web-1").string());
    EXPECT_FALSE(property<std::string>("web-1", "HostInterface").empty());
    // Creating starts nothing.
    EXPECT_TRUE(peers().transientUnits().empty());
}

TEST_F(ApiTest, BusctlCreateAsWrittenInTheIssueAllocatesTheFirstPair) {
    // The issue's exact form, with a /nix/store path mapped into the store dir.
    auto result = busctl({"call", kService, kManagerPath, kManagerInterface, "Create", "sa{sv}", "web", "2",
                          "SystemPath", "s", inStore(system()), "PrivateNetwork", "b", "true"});
    ASSERT_EQ(result.exitStatus, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("o \"/org/nixos/Containers/container/web\""));
    auto conf = readConf("web");
    EXPECT_EQ(conf["SYSTEM_PATH"], inStore(system()));
    EXPECT_EQ(conf["HOST_ADDRESS"], "10.233.0.1");
    EXPECT_EQ(conf["LOCAL_ADDRESS"], "10.233.0.2");

    // The next private network gets the next pair.
    result = busctl({"call", kService, kManagerPath, kManagerInterface, "Create", "sa{sv}", "db", "2",
                     "SystemPath", "s", inStore(system()), "PrivateNetwork", "b", "true"});
    ASSERT_EQ(result.exitStatus, 0) << result.output;
    EXPECT_EQ(readConf("db")["HOST_ADDRESS"], "10.233.1.1");
    EXPECT_EQ(readConf("db")["LOCAL_ADDRESS"], "10.233.1.2");
}

TEST_F(ApiTest, ReadMethodsAnswerUnprivilegedCallersWithoutPolkit) {
    createSimple("web");
    auto listed = busctl({"call", kService, kManagerPath, kManagerInterface, "List"}, kDeniedUid);
    ASSERT_EQ(listed.exitStatus, 0) << listed.output;
    EXPECT_THAT(listed.output, HasSubstr("\"web\" \"stopped\" false"));
    auto inspected = callAs(kDeniedUid, {"Inspect", "web"});
    ASSERT_EQ(inspected.exitStatus, 0) << inspected.output;
    EXPECT_THAT(inspected.output, HasSubstr("\"Name\": \"web\""));
    // Not root's secrets: polkit said no to seeing them (below), so blank.
    EXPECT_THAT(inspected.output, HasSubstr("\"Redacted\": ["));
    auto found = callAs(kDeniedUid, {"GetContainer", "web"});
    EXPECT_THAT(found.output, HasSubstr("OK /org/nixos/Containers/container/web"));
    auto property =
        busctl({"get-property", kService, containerPath("web"), kContainerInterface, "State"}, kDeniedUid);
    ASSERT_EQ(property.exitStatus, 0) << property.output;
    EXPECT_THAT(property.output, HasSubstr("s \"stopped\""));
    // None of that asked polkit for more than Inspect's secrets, without interaction.
    auto checks = peers().polkitChecks();
    ASSERT_EQ(checks.size(), 1U);
    EXPECT_EQ(checks[0].action, "org.nixos.containers.update");
    EXPECT_EQ(checks[0].details.at("verb"), "inspect");
    EXPECT_EQ(checks[0].flags, 0U);
}

}  // namespace
}  // namespace bus_tests
