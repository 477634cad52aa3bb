// Authorization through the fake polkit, for callers of other uids (run
// with setpriv): allowed, denied, challenged, and polkit absent.
#include "bus_fixture.h"

#include <gmock/gmock.h>

namespace bus_tests {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class AuthorizationTest : public BusTest {
protected:
    void beforeServiceStart() override {
        peers().setPolkitAnswer(kAllowedUid, PolkitAnswer::Allow);
        peers().setPolkitAnswer(kDeniedUid, PolkitAnswer::Deny);
        peers().setPolkitAnswer(kChallengedUid, PolkitAnswer::Challenge);
    }
};

TEST_F(AuthorizationTest, AllowedCallerStartsWithTheRightActionAndDetails) {
    createSimple("web");
    auto result = callAs(kAllowedUid, {"Start", "web"});
    EXPECT_EQ(result.exitStatus, 0) << result.output;
    EXPECT_THAT(result.output, StartsWith("OK"));
    EXPECT_EQ(state("web"), "running");

    auto checks = peers().polkitChecks();
    ASSERT_EQ(checks.size(), 1U);
    EXPECT_EQ(checks[0].subjectKind, "system-bus-name");
    EXPECT_EQ(checks[0].uid, kAllowedUid);
    EXPECT_EQ(checks[0].action, "org.nixos.containers.manage");
    // Root created it: root owns it.
    EXPECT_EQ(checks[0].details,
              (std::map<std::string, std::string>{
                  {"container", "web"}, {"verb", "start"}, {"owner", "root"}, {"owner_uid", "0"}}));
    EXPECT_EQ(checks[0].flags, 0U);
}

TEST_F(AuthorizationTest, EachVerbAsksForItsAction) {
    auto created = callAs(kAllowedUid, {"Create", "web", "SystemPath=s:" + system().string()});
    ASSERT_EQ(created.exitStatus, 0) << created.output;
    EXPECT_THAT(created.output, HasSubstr("OK /org/nixos/Containers/container/web"));
    auto updated = callAs(kAllowedUid, {"Update", "web", "AutoStart=b:true"});
    ASSERT_EQ(updated.exitStatus, 0) << updated.output;
    ASSERT_EQ(callAs(kAllowedUid, {"Stop", "web"}).exitStatus, 0);
    auto destroyed = callAs(kAllowedUid, {"Destroy", "web"});
    ASSERT_EQ(destroyed.exitStatus, 0) << destroyed.output;
    std::vector<std::pair<std::string, std::string>> asked;
    for (const auto& check : peers().polkitChecks()) {
        asked.emplace_back(check.action, check.details.at("verb"));
        // The caller owns what it creates, from the Create's check on.
        EXPECT_EQ(check.details.at("owner_uid"), std::to_string(kAllowedUid)) << check.action;
    }
    EXPECT_EQ(asked, (std::vector<std::pair<std::string, std::string>>{
                         {"org.nixos.containers.create", "create"},
                         {"org.nixos.containers.update", "update"},
                         {"org.nixos.containers.manage", "stop"},
                         {"org.nixos.containers.destroy", "destroy"}}));
}

TEST_F(AuthorizationTest, DeniedCallerGetsAccessDeniedAndChangesNothing) {
    createSimple("web");
    auto conf = readText(confFile("web"));

    auto started = callAs(kDeniedUid, {"Start", "web"});
    EXPECT_EQ(started.exitStatus, 2);
    EXPECT_THAT(started.output,
                HasSubstr("ERROR org.freedesktop.DBus.Error.AccessDenied: uid 61002 is not authorized "
                          "for org.nixos.containers.manage (start 'web')"));
    auto destroyed = callAs(kDeniedUid, {"Destroy", "web"});
    EXPECT_THAT(destroyed.output, HasSubstr("ERROR org.freedesktop.DBus.Error.AccessDenied:"));
    auto updated = callAs(kDeniedUid, {"Update", "web", "AutoStart=b:true"});
    EXPECT_THAT(updated.output, HasSubstr("ERROR org.freedesktop.DBus.Error.AccessDenied:"));
    auto created = callAs(kDeniedUid, {"Create", "other", "SystemPath=s:" + system().string()});
    EXPECT_THAT(created.output, HasSubstr("ERROR org.freedesktop.DBus.Error.AccessDenied:"));

    EXPECT_TRUE(peers().transientUnits().empty());
    EXPECT_EQ(readText(confFile("web")), conf);
    EXPECT_EQ(state("web"), "stopped");
    EXPECT_TRUE(leftNothingOf("other"));
    // busctl shows the same refusal; for this standard error it prints
    // strerror(EACCES), neither the name nor the service's message.
    auto viaBusctl =
        busctl({"call", kService, kManagerPath, kManagerInterface, "Start", "s", "web"}, kDeniedUid);
    EXPECT_NE(viaBusctl.exitStatus, 0);
    EXPECT_THAT(viaBusctl.output, HasSubstr("Call failed: Access denied"));
}

TEST_F(AuthorizationTest, ChallengeNeedsTheInteractiveFlag) {
    createSimple("web");
    auto refused = callAs(kChallengedUid, {"Start", "web"});
    EXPECT_THAT(refused.output,
                HasSubstr("ERROR org.freedesktop.DBus.Error.InteractiveAuthorizationRequired: uid "
                          "61003 must authenticate"));
    EXPECT_TRUE(peers().transientUnits().empty());

    auto allowed = callAs(kChallengedUid, {"Start", "web"}, /*interactive=*/true);
    EXPECT_EQ(allowed.exitStatus, 0) << allowed.output;
    auto checks = peers().polkitChecks();
    ASSERT_EQ(checks.size(), 2U);
    EXPECT_EQ(checks[0].flags, 0U);
    EXPECT_EQ(checks[1].flags, 1U);  // AllowUserInteraction reached polkit
    EXPECT_EQ(state("web"), "running");
}

TEST_F(AuthorizationTest, RootNeedsNoPolkit) {
    createSimple("web");
    verb("Start", "web");
    EXPECT_TRUE(peers().polkitChecks().empty());
}

TEST_F(AuthorizationTest, ValidationComesBeforeAuthorization) {
    // A denied caller with a bad name learns it is bad, and polkit is not bothered.
    auto result = callAs(kDeniedUid, {"Create", "a/b", "SystemPath=s:" + system().string()});
    EXPECT_THAT(result.output,
                HasSubstr("ERROR org.nixos.Containers.Error.InvalidArgument: name 'a/b' contains '/'"));
    auto missing = callAs(kDeniedUid, {"Start", "ghost"});
    EXPECT_THAT(missing.output, HasSubstr("ERROR org.nixos.Containers.Error.NoSuchContainer:"));
    EXPECT_TRUE(peers().polkitChecks().empty());
}

class PolkitAbsentTest : public BusTest {
protected:
    PeerOptions peerOptions() const override { return {.systemd = true, .machined = true, .polkit = false}; }
};

TEST_F(PolkitAbsentTest, AbsentPolkitIsADenial) {
    createSimple("web");  // as root: no polkit needed
    auto result = callAs(kAllowedUid, {"Start", "web"});
    EXPECT_EQ(result.exitStatus, 2);
    EXPECT_THAT(result.output,
                HasSubstr("ERROR org.freedesktop.DBus.Error.AccessDenied: cannot check authorization"));
    EXPECT_TRUE(peers().transientUnits().empty());
    EXPECT_EQ(state("web"), "stopped");
    // Reads still work.
    auto listed = busctl({"call", kService, kManagerPath, kManagerInterface, "List"}, kAllowedUid);
    EXPECT_EQ(listed.exitStatus, 0) << listed.output;
}

}  // namespace
}  // namespace bus_tests
