// The verb table against what it must agree with: the polkit policy that
// installs its actions, and the interfaces that expose its verbs.
#include "verb_table.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

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
    std::string name(verb);
    name[0] = static_cast<char>(name[0] - 'a' + 'A');
    return name;
}

TEST(VerbTableTest, EveryActionIsInThePolkitPolicy) {
    auto actions = matches(readFile(REPO_SOURCE_DIR "/polkit/org.nixos.containers.policy"),
                           std::regex(R"(<action id="([^"]+)\")"));
    for (const auto& row : verbTable()) {
        EXPECT_TRUE(actions.contains(std::string(row.policy.action))) << row.policy.name;
    }
    EXPECT_TRUE(actions.contains(std::string(kCreatePolicy.action)));
    EXPECT_TRUE(actions.contains(std::string(kUpdatePolicy.action)));
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
        rows.insert(methodName(row.policy.name));
        EXPECT_EQ(&verbRow(row.verb), &row);
        EXPECT_EQ(verbRowNamed(row.policy.name), &row);
        EXPECT_NE(row.body, nullptr) << row.policy.name;
    }
    // Update carries a patch and has its own entry, the calls into the
    // container are no operations, GetHostKey only reads;
    // the rest of the container's methods are the table's verbs.
    onContainer.erase(methodName(kUpdatePolicy.name));
    for (const auto& call : kContainerCalls) {
        onContainer.erase(std::string(call.method));
    }
    onContainer.erase("GetHostKey");
    EXPECT_EQ(rows, onContainer);
    for (const auto& verb : rows) {
        EXPECT_TRUE(onManager.contains(verb)) << verb;
    }
}

}  // namespace
}  // namespace nixos_containers
