// What the Cockpit page asks of the service besides the verbs (issue 28):
// GetPermissions, the SpecKeys property and SwitchGeneration, over the bus
// with the fake polkit, systemd and machined.
#include "bus_fixture.h"

#include <gmock/gmock.h>

namespace bus_tests {
namespace {

using ::testing::HasSubstr;

using ServiceApiTest = BusTest;
using Permissions = std::map<std::string, std::string>;

// busctl's a{ss} as a map: `a{ss} N "K" "V" ...`.
Permissions parsePermissions(const std::string& output) {
    Permissions parsed;
    std::vector<std::string> words;
    for (std::size_t at = output.find('"'); at != std::string::npos; at = output.find('"', at)) {
        const auto end = output.find('"', at + 1);
        words.push_back(output.substr(at + 1, end - at - 1));
        at = end + 1;
    }
    for (std::size_t index = 0; index + 1 < words.size(); index += 2) {
        parsed[words[index]] = words[index + 1];
    }
    return parsed;
}

TEST_F(ServiceApiTest, GetPermissionsTellsEachCallerPolkitsAnswerWithoutInteraction) {
    auto spec = Spec{{"SystemPath", sdbus::Variant(system().string())},
                     {"PrivateUsers", sdbus::Variant(std::string("pick"))}};
    create("web", spec);
    peers().setPolkitAnswer(kAllowedUid, PolkitAnswer::Allow);
    peers().setPolkitAnswer(kDeniedUid, PolkitAnswer::Deny);
    peers().setPolkitAnswer(kChallengedUid, PolkitAnswer::Challenge);
    const std::map<unsigned, std::string> expected = {
        {kAllowedUid, "yes"}, {kDeniedUid, "no"}, {kChallengedUid, "challenge"}};
    for (const auto& [uid, word] : expected) {
        auto result =
            busctl({"call", kService, kManagerPath, kManagerInterface, "GetPermissions", "s", "web"}, uid);
        ASSERT_EQ(result.exitStatus, 0) << result.output;
        auto rights = parsePermissions(result.output);
        EXPECT_EQ(rights.size(), 13U) << result.output;
        EXPECT_EQ(rights["Start"], word) << uid;
        EXPECT_EQ(rights["SwitchGeneration"], word) << uid;
        EXPECT_EQ(rights["OpenLogs"], word) << uid;
    }
    // The container object's own, without a name.
    auto onObject =
        busctl({"call", kService, containerPath("web"), kContainerInterface, "GetPermissions"}, kDeniedUid);
    ASSERT_EQ(onObject.exitStatus, 0) << onObject.output;
    EXPECT_EQ(parsePermissions(onObject.output)["Destroy"], "no");
    auto checks = peers().polkitChecks();
    ASSERT_FALSE(checks.empty());
    for (const auto& check : checks) {
        EXPECT_EQ(check.flags, 0U) << check.action;  // never a prompt
        EXPECT_EQ(check.details.at("container"), "web");
    }
}

TEST_F(ServiceApiTest, GetPermissionsOfNoNameIsCreateAndOfAnUnknownNameAnError) {
    peers().setPolkitAnswer(kChallengedUid, PolkitAnswer::Challenge);
    auto create = busctl({"call", kService, kManagerPath, kManagerInterface, "GetPermissions", "s", ""},
                         kChallengedUid);
    ASSERT_EQ(create.exitStatus, 0) << create.output;
    EXPECT_EQ(parsePermissions(create.output), (Permissions{{"Create", "challenge"}}));
    auto unknown = callAs(kDeniedUid, {"GetPermissions", "nosuch"});
    EXPECT_THAT(unknown.output, HasSubstr("org.nixos.Containers.Error.NoSuchContainer"));
    auto bad = callAs(kDeniedUid, {"GetPermissions", "-bad/name"});
    EXPECT_THAT(bad.output, HasSubstr("org.nixos.Containers.Error.InvalidArgument"));
}

TEST_F(ServiceApiTest, SpecKeysNamesEveryKeyWithItsTypeUpdateEffectAndHostAccess) {
    auto result = busctl({"get-property", kService, kManagerPath, kManagerInterface, "SpecKeys"});
    ASSERT_EQ(result.exitStatus, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("a(sssb) "));
    EXPECT_THAT(result.output, HasSubstr("\"SystemPath\" \"s\" \"reload\" false"));
    EXPECT_THAT(result.output, HasSubstr("\"MemoryMax\" \"s\" \"live\" true"));
    EXPECT_THAT(result.output, HasSubstr("\"AutoStart\" \"b\" \"stored\" false"));
    EXPECT_THAT(result.output, HasSubstr("\"ForwardPorts\" \"a(sqq)\" \"restart\" true"));
    EXPECT_THAT(result.output, HasSubstr("\"Tmpfs\" \"as\" \"restart\" false"));
    auto introspected = busctl({"introspect", kService, kManagerPath, kManagerInterface});
    EXPECT_THAT(introspected.output, HasSubstr(".SpecKeys"));
    EXPECT_THAT(introspected.output, HasSubstr("const"));
}

TEST_F(ServiceApiTest, SwitchGenerationGoesToAnyGenerationAndRefusesOthers) {
    createSimple("web");
    const auto second = makeSystem("nixos-system-second");
    const auto third = makeSystem("nixos-system-third");
    update("web", {{"SystemPath", sdbus::Variant(second.string())}});
    update("web", {{"SystemPath", sdbus::Variant(third.string())}});
    auto switched =
        busctl({"call", kService, kManagerPath, kManagerInterface, "SwitchGeneration", "su", "web", "1"});
    ASSERT_EQ(switched.exitStatus, 0) << switched.output;
    auto systemPath =
        busctl({"get-property", kService, containerPath("web"), kContainerInterface, "SystemPath"});
    EXPECT_THAT(systemPath.output, HasSubstr(inStore(system())));
    auto generations =
        busctl({"get-property", kService, containerPath("web"), kContainerInterface, "Generations"});
    EXPECT_THAT(generations.output, HasSubstr("a(ustb) 3 1 "));
    // The current flag is on generation 1: "1 PATH TIME true".
    EXPECT_THAT(generations.output, ::testing::ContainsRegex("1 \"[^\"]+\" [0-9]+ true 2 "));

    auto missing =
        busctl({"call", kService, containerPath("web"), kContainerInterface, "SwitchGeneration", "u", "9"});
    EXPECT_NE(missing.exitStatus, 0);
    EXPECT_THAT(missing.output, HasSubstr("no generation 9; it has 1, 2, 3"));
    auto current =
        busctl({"call", kService, containerPath("web"), kContainerInterface, "SwitchGeneration", "u", "1"});
    EXPECT_NE(current.exitStatus, 0);
    EXPECT_THAT(current.output, HasSubstr("runs generation 1 already"));

    peers().setPolkitAnswer(kDeniedUid, PolkitAnswer::Deny);
    auto denied =
        busctl({"call", kService, kManagerPath, kManagerInterface, "SwitchGeneration", "su", "web", "2"},
               kDeniedUid);
    EXPECT_NE(denied.exitStatus, 0);
    auto checks = peers().polkitChecks();
    ASSERT_FALSE(checks.empty());
    EXPECT_EQ(checks.back().action, "org.nixos.containers.update");
    EXPECT_EQ(checks.back().details.at("verb"), "switch-generation");
    EXPECT_EQ(checks.back().details.at("generation"), "2");
}

}  // namespace
}  // namespace bus_tests
