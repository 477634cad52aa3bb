// State that must not lie (issue 25, "State that lies or is lost"): what
// the service says about a container agrees with what is on disk.
#include "bus_fixture.h"

#include <gmock/gmock.h>

namespace bus_tests {
namespace {

using ::testing::Contains;
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

}  // namespace
}  // namespace bus_tests
