// The verb table against what it must agree with: the Verb enum, the polkit
// policy that installs its actions, the interfaces that expose its verbs, and
// the clients that offer them (the CLI's verb table, the Cockpit page).
#include "verb_table.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>

namespace nixos_containers {
namespace {

std::string readFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_FALSE(text.str().empty()) << "cannot read " << path;
    return text.str();
}

std::set<std::string> matches(const std::string& text, const std::regex& pattern) {
    std::set<std::string> found;
    for (auto match = std::sregex_iterator(text.begin(), text.end(), pattern);
         match != std::sregex_iterator(); ++match) {
        found.insert((*match)[1]);
    }
    return found;
}

std::string methodName(std::string_view verb) {
    return methodOfVerb(verb);
}

// The text of SOURCE from the line holding START to the next END after it.
std::string section(const std::string& source, const std::string& start, const std::string& end) {
    auto from = source.find(start);
    EXPECT_NE(from, std::string::npos) << "no '" << start << "'";
    if (from == std::string::npos) {
        return {};
    }
    auto to = source.find(end, from);
    EXPECT_NE(to, std::string::npos) << "no '" << end << "' after '" << start << "'";
    return source.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

TEST(VerbTableTest, EveryValueOfTheEnumHasItsOwnRow) {
    ASSERT_EQ(verbTable().size(), kVerbCount);
    std::set<std::string_view> names;
    for (std::size_t index = 0; index < kVerbCount; ++index) {
        const auto verb = static_cast<Verb>(index);
        EXPECT_TRUE(isVerb(verb)) << index;
        EXPECT_EQ(verbRow(verb).verb, verb) << index;
        EXPECT_TRUE(names.insert(toString(verb)).second) << toString(verb) << " names two verbs";
    }
}

// Create and Update are rows too: their polkit actions and names are the
// ones authorisation asks for and operations show.
TEST(VerbTableTest, CreateAndUpdateHaveRowsWithTheirPolicyAndBody) {
    EXPECT_EQ(verbRow(Verb::Create).policy.action, kCreatePolicy.action);
    EXPECT_EQ(toString(Verb::Create), kCreatePolicy.name);
    EXPECT_TRUE(std::holds_alternative<CreateBody>(verbRow(Verb::Create).body));
    EXPECT_EQ(verbRow(Verb::Update).policy.action, kUpdatePolicy.action);
    EXPECT_EQ(toString(Verb::Update), kUpdatePolicy.name);
    EXPECT_TRUE(std::holds_alternative<UpdateBody>(verbRow(Verb::Update).body));
    EXPECT_EQ(verbRowNamed("update"), &verbRow(Verb::Update));
    EXPECT_FALSE(verbRow(Verb::Update).onDeclarative);
    EXPECT_FALSE(verbRow(Verb::Update).cancellable);
}

// Only a cast makes a Verb outside the enum; its row is a defined error,
// never a read past the table.
TEST(VerbTableTest, AValueOutsideTheEnumHasNoRow) {
    const auto outside = static_cast<Verb>(kVerbCount);
    EXPECT_FALSE(isVerb(outside));
    EXPECT_THROW(verbRow(outside), std::out_of_range);
    EXPECT_THROW(verbRow(static_cast<Verb>(-1)), std::out_of_range);
}

TEST(VerbTableTest, EveryActionIsInThePolkitPolicy) {
    auto actions = matches(readFile(REPO_SOURCE_DIR "/polkit/org.nixos.containers.policy"),
                           std::regex(R"(<action id="([^"]+)\")"));
    for (const auto& row : verbTable()) {
        EXPECT_TRUE(actions.contains(std::string(row.policy.action))) << row.policy.name;
    }
    for (const auto& call : kContainerCalls) {
        EXPECT_TRUE(actions.contains(std::string(call.policy.action))) << call.method;
    }
    EXPECT_TRUE(actions.contains(std::string(kHostAccessAction)));
}

// The calls into a container are not rows (they take no container) but
// methods of both interfaces, each with its own action.
TEST(VerbTableTest, TheCallsIntoAContainerAreMethodsOfBothInterfaces) {
    const std::regex method(R"(<method name="([A-Za-z]+)\")");
    auto onContainer =
        matches(readFile(REPO_SOURCE_DIR "/interfaces/org.nixos.Containers.Container.xml"), method);
    auto onManager = matches(readFile(REPO_SOURCE_DIR "/interfaces/org.nixos.Containers.xml"), method);
    for (const auto& call : kContainerCalls) {
        EXPECT_TRUE(onContainer.contains(std::string(call.method))) << call.method;
        EXPECT_TRUE(onManager.contains(std::string(call.method))) << call.method;
        EXPECT_EQ(verbRowNamed(call.policy.name), nullptr) << call.method;
    }
}

TEST(VerbTableTest, EveryVerbIsAMethodOfBothInterfacesAndEveryVerbMethodHasARow) {
    const std::regex method(R"(<method name="([A-Za-z]+)\")");
    auto onContainer =
        matches(readFile(REPO_SOURCE_DIR "/interfaces/org.nixos.Containers.Container.xml"), method);
    auto onManager = matches(readFile(REPO_SOURCE_DIR "/interfaces/org.nixos.Containers.xml"), method);
    std::set<std::string> rows;
    for (const auto& row : verbTable()) {
        EXPECT_EQ(&verbRow(row.verb), &row);
        EXPECT_EQ(verbRowNamed(row.policy.name), &row);
        EXPECT_TRUE(std::visit([](auto body) { return body != nullptr; }, row.body)) << row.policy.name;
        if (std::holds_alternative<CreateBody>(row.body)) {
            // It makes the container: the manager's method alone.
            EXPECT_TRUE(onManager.contains(methodName(row.policy.name))) << row.policy.name;
            EXPECT_FALSE(onContainer.contains(methodName(row.policy.name))) << row.policy.name;
            continue;
        }
        rows.insert(methodName(row.policy.name));
    }
    // The calls into the container are no operations, GetHostKey and
    // GetPermissions only read; the rest of the container's methods are the
    // table's verbs.
    for (const auto& call : kContainerCalls) {
        onContainer.erase(std::string(call.method));
    }
    onContainer.erase("GetHostKey");
    onContainer.erase("GetPermissions");
    EXPECT_EQ(rows, onContainer);
    for (const auto& verb : rows) {
        EXPECT_TRUE(onManager.contains(verb)) << verb;
    }
}

// Verbs a client does not offer yet. The test fails once one is offered, so
// the entry goes with the gap.
// SwitchGeneration carries a generation; the CLI (cli/, not this branch's)
// has no subcommand for it yet.
const std::set<std::string> kNotInTheCli = {"switch-generation"};
// The page has no Terminate button (README, "The Cockpit page", Actions).
// Its buttons call argument-free methods: Create and Update carry a spec or
// a patch (Create has the page's form instead).
// SwitchGeneration carries a generation: the page's generations list, not a button.
const std::set<std::string> kNotOnTheCockpitPage = {"Terminate", "Create", "Update", "SwitchGeneration"};

TEST(VerbTableTest, EveryVerbsMethodIsItsNameInPascalCase) {
    EXPECT_EQ(methodOfVerb("rollback"), "Rollback");
    EXPECT_EQ(methodOfVerb("switch-generation"), "SwitchGeneration");
    EXPECT_EQ(methodOfVerb("start"), "Start");
}

TEST(VerbTableTest, TheCliOffersEveryVerb) {
    auto table = section(readFile(REPO_SOURCE_DIR "/cli/verbs.cpp"), "verbTable() {", "return kVerbs;");
    auto cliVerbs = matches(table, std::regex(R"re(\{"([a-z-]+)",)re"));
    ASSERT_TRUE(cliVerbs.contains("list")) << "the CLI's verb table was not found";
    for (const auto& row : verbTable()) {
        const std::string name(row.policy.name);
        EXPECT_NE(cliVerbs.contains(name), kNotInTheCli.contains(name))
            << name
            << (kNotInTheCli.contains(name) ? ": now in the CLI, drop it from kNotInTheCli"
                                            : ": no row in cli/verbs.cpp verbTable()");
    }
    EXPECT_TRUE(cliVerbs.contains(std::string(kApplyDeclarativePolicy.name)));
}

TEST(VerbTableTest, TheCockpitPageOffersEveryVerbItHasAButtonFor) {
    auto buttons =
        matches(section(readFile(REPO_SOURCE_DIR "/cockpit/src/actions.js"), "export const VERBS = [", "];"),
                std::regex(R"re(method: "([A-Za-z]+)")re"));
    ASSERT_FALSE(buttons.empty()) << "the page's VERBS were not found";
    std::set<std::string> rows;
    for (const auto& row : verbTable()) {
        const auto method = methodName(row.policy.name);
        rows.insert(method);
        EXPECT_NE(buttons.contains(method), kNotOnTheCockpitPage.contains(method))
            << method
            << (kNotOnTheCockpitPage.contains(method) ? ": now on the page, drop it from kNotOnTheCockpitPage"
                                                      : ": no entry in cockpit/src/actions.js VERBS");
    }
    // The page calls each button's method with no arguments: a verb's.
    for (const auto& button : buttons) {
        EXPECT_TRUE(rows.contains(button)) << button << " is not a verb of the table";
    }
}

}  // namespace
}  // namespace nixos_containers
