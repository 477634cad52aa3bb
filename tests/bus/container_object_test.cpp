// The per-container objects as a client sees them. They are served by one
// sd-bus fallback vtable built from the generated adaptor (ObjectSubtree), so
// these tests pin what a registered object would give for free: the
// interface of the XML, child nodes, UnknownObject, GetAll, and the
// ObjectManager signals.
#include "bus_fixture.h"

#include <gmock/gmock.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace bus_tests {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using ContainerObjectTest = BusTest;

// "method Update(a{sv}:in)" and "property State s read" lines for one
// interface of an introspection document (or of an interface file).
std::set<std::string> membersOf(const std::string& xml, const std::string& interface) {
    auto start = xml.find("<interface name=\"" + interface + "\"");
    if (start == std::string::npos) {
        return {};
    }
    auto end = xml.find("</interface>", start);
    const std::string body = xml.substr(start, end - start);
    std::set<std::string> members;
    const std::regex method(R"re(<method name="([^"]+)"\s*(/>|>([\s\S]*?)</method>))re");
    const std::regex arg(R"re(<arg\b([^>]*?)/?>)re");
    const std::regex attribute(R"re((\w+)="([^"]*)")re");
    for (auto m = std::sregex_iterator(body.begin(), body.end(), method); m != std::sregex_iterator(); ++m) {
        std::string line = "method " + (*m)[1].str() + "(";
        const std::string args = (*m)[3].str();
        for (auto a = std::sregex_iterator(args.begin(), args.end(), arg); a != std::sregex_iterator(); ++a) {
            std::map<std::string, std::string> attributes;
            const std::string text = (*a)[1].str();
            for (auto t = std::sregex_iterator(text.begin(), text.end(), attribute);
                 t != std::sregex_iterator(); ++t) {
                attributes[(*t)[1].str()] = (*t)[2].str();
            }
            line += attributes["name"] + ":" + attributes["type"] + ":" +
                    (attributes.contains("direction") ? attributes["direction"] : "in") + ",";
        }
        members.insert(line + ")");
    }
    const std::regex property(R"re(<property name="([^"]+)" type="([^"]+)" access="([^"]+)")re");
    for (auto p = std::sregex_iterator(body.begin(), body.end(), property); p != std::sregex_iterator();
         ++p) {
        members.insert("property " + (*p)[1].str() + " " + (*p)[2].str() + " " + (*p)[3].str());
    }
    const std::regex signal(R"re(<signal name="([^"]+)")re");
    for (auto s = std::sregex_iterator(body.begin(), body.end(), signal); s != std::sregex_iterator(); ++s) {
        members.insert("signal " + (*s)[1].str());
    }
    return members;
}

std::string introspect(sdbus::IConnection& connection, const std::string& path) {
    auto proxy = sdbus::createProxy(connection, kService, path);
    proxy->finishRegistration();
    std::string xml;
    proxy->callMethod("Introspect").onInterface("org.freedesktop.DBus.Introspectable").storeResultsTo(xml);
    return xml;
}

TEST_F(ContainerObjectTest, ServesExactlyTheInterfaceOfItsXmlFile) {
    createSimple("web");
    std::ifstream file(CONTAINER_INTERFACE_XML);
    ASSERT_TRUE(file) << CONTAINER_INTERFACE_XML;
    std::stringstream declared;
    declared << file.rdbuf();
    auto expected = membersOf(declared.str(), kContainerInterface);
    ASSERT_GT(expected.size(), 35U);  // 7 methods and 32 properties: the parser found them
    EXPECT_EQ(membersOf(introspect(client(), containerPath("web")), kContainerInterface), expected);
}

TEST_F(ContainerObjectTest, ContainersAreChildNodesAndOthersAreUnknownObjects) {
    createSimple("web");
    createSimple("db-1");
    auto children = introspect(client(), std::string(kManagerPath) + "/container");
    EXPECT_THAT(children, HasSubstr("<node name=\"web\"/>"));
    EXPECT_THAT(children, HasSubstr("<node name=\"db_2d1\"/>"));

    auto stateOf = [this](const std::string& path) {
        auto proxy = sdbus::createProxy(client(), kService, path);
        proxy->finishRegistration();
        sdbus::Variant value = proxy->getProperty("State").onInterface(kContainerInterface);
        return value.get<std::string>();
    };
    EXPECT_EQ(stateOf(containerPath("web")), "stopped");
    EXPECT_TRUE(
        failsWith([&] { stateOf(containerPath("nosuch")); }, "org.freedesktop.DBus.Error.UnknownObject", ""));
    verb("Destroy", "web");
    EXPECT_TRUE(
        failsWith([&] { stateOf(containerPath("web")); }, "org.freedesktop.DBus.Error.UnknownObject", ""));
    EXPECT_THAT(introspect(client(), std::string(kManagerPath) + "/container"),
                Not(HasSubstr("<node name=\"web\"/>")));
}

// A client names a container's object as systemd's tools name units and
// machines, with sd_bus_path_encode, instead of asking GetContainer first.
// That escapes every byte outside [A-Za-z0-9] and also a leading digit
// ("1web" is _31web). '-' is escaped as _2d, so "a-2db" (a_2d2db) cannot be
// taken for the escaped "a-b" (a_2db). Names with '_' cannot be created any
// more (issue 16: nspawn refuses them as machine names).
TEST_F(ContainerObjectTest, PathsAreWhatSdBusPathEncodeMakesOfTheName) {
    const std::string parent = std::string(kManagerPath) + "/container";
    const std::string longName = "0-" + std::string(62, 'z');
    ASSERT_EQ(longName.size(), 64U);
    const std::vector<std::string> names = {"1web", "db-1", longName, "a-b", "a-2db"};
    for (const auto& name : names) {
        createSimple(name);
    }
    EXPECT_EQ(pathEncode(parent, "1web"), parent + "/_31web");
    const auto children = introspect(client(), parent);
    for (const auto& name : names) {
        SCOPED_TRACE(name);
        const std::string encoded = pathEncode(parent, name);
        sdbus::ObjectPath got;
        manager()
            .callMethod("GetContainer")
            .onInterface(kManagerInterface)
            .withArguments(name)
            .storeResultsTo(got);
        EXPECT_EQ(std::string(got), encoded);
        EXPECT_EQ(pathDecode(got, parent), name);
        EXPECT_THAT(children, HasSubstr("<node name=\"" + encoded.substr(parent.size() + 1) + "\"/>"));
        // The object is there under the path the client computed.
        auto proxy = sdbus::createProxy(client(), kService, encoded);
        proxy->finishRegistration();
        std::string served;
        EXPECT_NO_THROW(served =
                            proxy->getProperty("Name").onInterface(kContainerInterface).get<std::string>());
        EXPECT_EQ(served, name);
    }
}

TEST_F(ContainerObjectTest, EachObjectAnswersForItsOwnContainer) {
    create("web", {{"SystemPath", sdbus::Variant(system().string())}, {"AutoStart", sdbus::Variant(true)}});
    createSimple("db");
    std::map<std::string, std::map<std::string, sdbus::Variant>> all;
    for (const std::string name : {"web", "db"}) {
        auto proxy = sdbus::createProxy(client(), kService, containerPath(name));
        proxy->finishRegistration();
        proxy->callMethod("GetAll")
            .onInterface("org.freedesktop.DBus.Properties")
            .withArguments(std::string(kContainerInterface))
            .storeResultsTo(all[name]);
    }
    // Every property of the interface file, read at once.
    std::ifstream file(CONTAINER_INTERFACE_XML);
    std::stringstream declared;
    declared << file.rdbuf();
    std::size_t properties = 0;
    for (const auto& member : membersOf(declared.str(), kContainerInterface)) {
        properties += member.starts_with("property ") ? 1 : 0;
    }
    ASSERT_GT(properties, 30U);
    EXPECT_EQ(all["web"].size(), properties);
    // machined's view, of a container that does not run.
    EXPECT_EQ(all["web"].at("MachinePath").get<sdbus::ObjectPath>(), "/");
    EXPECT_EQ(all["web"].at("Timestamp").get<std::uint64_t>(), 0U);
    EXPECT_TRUE((all["web"].at("OSRelease").get<std::map<std::string, std::string>>().empty()));
    EXPECT_EQ(all["web"].at("Name").get<std::string>(), "web");
    EXPECT_EQ(all["db"].at("Name").get<std::string>(), "db");
    EXPECT_TRUE(all["web"].at("AutoStart").get<bool>());
    EXPECT_FALSE(all["db"].at("AutoStart").get<bool>());
    EXPECT_EQ(all["db"].at("Unit").get<std::string>(), "nixos-container@db.service");
}

TEST_F(ContainerObjectTest, ObjectManagerSignalsFollowCreateAndDestroy) {
    std::mutex mutex;
    std::vector<std::pair<std::string, std::map<std::string, std::map<std::string, sdbus::Variant>>>> added;
    std::vector<std::pair<std::string, std::vector<std::string>>> removed;
    auto slot = client().addMatch(
        "type='signal',interface='org.freedesktop.DBus.ObjectManager',path='/org/nixos/Containers'",
        [&](sdbus::Message& message) {
            sdbus::ObjectPath path;
            std::lock_guard lock(mutex);
            if (std::string(message.getMemberName()) == "InterfacesAdded") {
                std::map<std::string, std::map<std::string, sdbus::Variant>> interfaces;
                message >> path >> interfaces;
                added.emplace_back(path, std::move(interfaces));
            } else {
                std::vector<std::string> interfaces;
                message >> path >> interfaces;
                removed.emplace_back(path, std::move(interfaces));
            }
        });
    createSimple("web");
    ASSERT_TRUE(waitUntil([&] {
        std::lock_guard lock(mutex);
        return !added.empty();
    }));
    {
        std::lock_guard lock(mutex);
        EXPECT_EQ(added.front().first, containerPath("web"));
        ASSERT_TRUE(added.front().second.contains(kContainerInterface));
        EXPECT_EQ(added.front().second.at(kContainerInterface).at("Name").get<std::string>(), "web");
    }
    verb("Destroy", "web");
    ASSERT_TRUE(waitUntil([&] {
        std::lock_guard lock(mutex);
        return !removed.empty();
    }));
    std::lock_guard lock(mutex);
    EXPECT_EQ(removed.front().first, containerPath("web"));
    EXPECT_EQ(removed.front().second, std::vector<std::string>{kContainerInterface});
}

TEST_F(ContainerObjectTest, AnUpdateWithAWrongArgumentTypeIsInvalidArgs) {
    createSimple("web");
    auto result =
        busctl({"call", kService, containerPath("web"), kContainerInterface, "Update", "s", "oops"});
    EXPECT_NE(result.exitStatus, 0);
    EXPECT_THAT(result.output, HasSubstr("nvalid"));
    EXPECT_EQ(property<std::string>("web", "Name"), "web");  // still served
}

}  // namespace
}  // namespace bus_tests
