// ApplyDeclarative over the bus: the set as NixOS's module writes it, the
// answer's a(ssss), the refusals, and nixpkgs' own template containers left
// to nixpkgs.
#include "bus_fixture.h"

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

namespace bus_tests {
namespace {

using ::testing::HasSubstr;
using Outcomes = std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>>;

class DeclarativeSetTest : public BusTest {
protected:
    void beforeServiceStart() override {
        // A container of nixpkgs' module: its template unit runs it.
        writeText(confFile("old"), "SYSTEM_PATH=" + system().string() + "\n");
        writeText(declarativeUnitDir() / "container@old.service", "[Service]\n");
    }

    Outcomes apply(const nlohmann::json& containers) {
        Outcomes outcomes;
        manager()
            .callMethod("ApplyDeclarative")
            .onInterface(kManagerInterface)
            .withTimeout(std::chrono::seconds(20))
            .withArguments(nlohmann::json{{"Containers", containers}}.dump())
            .storeResultsTo(outcomes);
        return outcomes;
    }
    static std::vector<std::string> lines(const Outcomes& outcomes) {
        std::vector<std::string> result;
        for (const auto& outcome : outcomes) {
            result.push_back(outcome.get<0>() + " " + outcome.get<1>() + " " + outcome.get<2>());
        }
        return result;
    }
};

TEST_F(DeclarativeSetTest, TheSetIsCreatedAsTheServicesOwnUnitsAndRefusedToOthers) {
    const nlohmann::json web = {{"Spec", {{"SystemPath", system().string()}, {"AutoStart", true}}}};
    EXPECT_EQ(lines(apply({{"web", web}})), (std::vector<std::string>{"web created "}));
    EXPECT_EQ(state("web"), "running");
    EXPECT_TRUE(property<bool>("web", "Declarative"));
    EXPECT_EQ(property<std::string>("web", "Unit"), "nixos-container@web.service");
    ASSERT_EQ(peers().transientUnits().size(), 1U);
    EXPECT_EQ(peers().transientUnits()[0].unit, "nixos-container@web.service");
    EXPECT_EQ(readConf("web").at("DECLARATIVE"), "1");
    EXPECT_TRUE(failsWith(
        [&] {
            update("web", {{"AutoStart", sdbus::Variant(false)}});
        },
        kDeclarative, "is declarative"));

    // Not root: polkit's answer (the fake denies this uid), nothing changed.
    auto denied = callAs(kDeniedUid, {"ApplyDeclarative", R"({"Containers": {}})"});
    EXPECT_THAT(denied.output, HasSubstr("ERROR org.freedesktop.DBus.Error.AccessDenied:"));
    EXPECT_EQ(state("web"), "running");

    // An empty set forgets web, and leaves nixpkgs' template container alone.
    EXPECT_EQ(lines(apply(nlohmann::json::object())), (std::vector<std::string>{"web removed "}));
    EXPECT_FALSE(fs::exists(confFile("web")));
    EXPECT_TRUE(fs::exists(confFile("old")));
    std::vector<std::string> names;
    for (const auto& row : list()) {
        names.push_back(row.get<0>());
    }
    EXPECT_EQ(names, (std::vector<std::string>{"old"}));
}

TEST_F(DeclarativeSetTest, ASetThatIsNoSetIsInvalidArgumentAndAContainerOfNixpkgsIsNotTaken) {
    EXPECT_TRUE(failsWith(
        [&] {
            Outcomes ignored;
            manager()
                .callMethod("ApplyDeclarative")
                .onInterface(kManagerInterface)
                .withArguments(std::string("[1, 2"))
                .storeResultsTo(ignored);
        },
        kInvalidArgument, "not JSON"));
    auto outcomes = apply({{"old", {{"Spec", {{"SystemPath", system().string()}}}}}});
    ASSERT_EQ(outcomes.size(), 1U);
    EXPECT_EQ(outcomes[0].get<1>(), "failed");
    EXPECT_EQ(outcomes[0].get<2>(), "org.nixos.Containers.Error.AlreadyExists");
    EXPECT_THAT(outcomes[0].get<3>(), HasSubstr("container@old.service"));
    EXPECT_EQ(property<std::string>("old", "Unit"), "container@old.service");
}

TEST_F(DeclarativeSetTest, BusctlCallsItAsTheModulesUnitWould) {
    auto result =
        busctl({"call", kService, kManagerPath, kManagerInterface, "ApplyDeclarative", "s",
                R"({"Containers": {"db": {"Spec": {"SystemPath": ")" + system().string() + R"("}}}})"});
    ASSERT_EQ(result.exitStatus, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr(R"(a(ssss) 1 "db" "created" "" "")"));
}

}  // namespace
}  // namespace bus_tests
