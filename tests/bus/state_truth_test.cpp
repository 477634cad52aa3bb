// State that must not lie (issue 25, "State that lies or is lost"): what
// the service says about a container agrees with what is on disk.
#include "bus_fixture.h"

#include <gmock/gmock.h>

namespace bus_tests {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

// A conf chmod'ed 0444 by an admin, with no NixOS unit for it.
class ReadOnlyConfTest : public BusTest {
protected:
    void beforeServiceStart() override {
        writeText(confFile("ro"), "SYSTEM_PATH=" + system().string() + "\n",
                  fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    }
};

TEST_F(ReadOnlyConfTest, AReadOnlyConfIsStillImperativeAndStarts) {
    EXPECT_FALSE(property<bool>("ro", "Declarative"));
    EXPECT_EQ(property<std::string>("ro", "Unit"), "nixos-container@ro.service");
    verb("Start", "ro");
    EXPECT_EQ(state("ro"), "running");
    ASSERT_EQ(peers().transientUnits().size(), 1U);
    EXPECT_EQ(peers().transientUnits()[0].unit, "nixos-container@ro.service");
    EXPECT_THAT(peers().managerCalls(), Not(Contains("StartUnit container@ro.service")));
}

// Issue 25 item 14: without polkitd every caller but root is denied (it
// fails closed); the service says so in its log, once per outage.
class PolkitGoneTest : public BusTest {
protected:
    PeerOptions peerOptions() const override { return {.systemd = true, .machined = true, .polkit = false}; }
    std::size_t warnings() const {
        const auto log = serviceLog();
        std::size_t count = 0;
        for (auto at = log.find("polkitd is not running"); at != std::string::npos;
             at = log.find("polkitd is not running", at + 1)) {
            ++count;
        }
        return count;
    }
};

TEST_F(PolkitGoneTest, ItsAbsenceIsLoggedOncePerOutageWithWhatToDo) {
    createSimple("web");  // as root: no polkit needed
    for (int call = 0; call < 2; ++call) {
        auto result = callAs(kAllowedUid, {"Start", "web"});
        EXPECT_THAT(result.output, HasSubstr("org.freedesktop.DBus.Error.AccessDenied"));
    }
    EXPECT_EQ(warnings(), 1U) << serviceLog();
    EXPECT_THAT(serviceLog(), HasSubstr("every caller but root is denied"));
    EXPECT_THAT(serviceLog(), HasSubstr("systemctl start polkit.service"));

    // Back, then gone again: news again, once.
    peers().setPolkitRunning(true);
    peers().setPolkitAnswer(kAllowedUid, PolkitAnswer::Deny);
    EXPECT_THAT(callAs(kAllowedUid, {"Start", "web"}).output, HasSubstr("AccessDenied"));
    EXPECT_FALSE(peers().polkitChecks().empty());
    EXPECT_EQ(warnings(), 1U);
    peers().setPolkitRunning(false);
    for (int call = 0; call < 2; ++call) {
        EXPECT_THAT(callAs(kAllowedUid, {"Start", "web"}).output, HasSubstr("AccessDenied"));
    }
    EXPECT_EQ(warnings(), 2U) << serviceLog();
}

}  // namespace
}  // namespace bus_tests
