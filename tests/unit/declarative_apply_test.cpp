// ApplyDeclarative: NixOS's declarative set reconciled with what the service
// knows, each container as one change, on the verbs' own paths.
#include "conf_file.h"
#include "declarative_set.h"
#include "manager_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nixos_containers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class DeclarativeApplyTest : public ContainerManagerTest {
protected:
    DeclarativeApplyTest() {
        for (const auto* system : {"abc-system", "def-system"}) {
            fs::create_directories(settings.storeDir / system);
            std::ofstream(settings.storeDir / system / "init") << "#!/bin/sh\n";
        }
    }

    std::string system(const std::string& name) const { return (settings.storeDir / name).string(); }

    // {"Containers": {NAME: {"Spec": SPEC, "RestartIfChanged": ...}}}
    static std::string set(const nlohmann::json& containers) {
        return nlohmann::json{{"Containers", containers}}.dump();
    }

    Outcome<std::vector<DeclarativeOutcome>> apply(const std::string& text, const Caller& caller) {
        std::optional<Outcome<std::vector<DeclarativeOutcome>>> answer;
        int answers = 0;
        manager().applyDeclarative(caller, text, [&](Outcome<std::vector<DeclarativeOutcome>> result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(
            Outcome<std::vector<DeclarativeOutcome>>(ContainerError(ErrorCode::Failed, "no answer")));
    }

    // Each outcome as "NAME RESULT", with " ERROR" when it has one.
    std::vector<std::string> applied(const std::string& text) {
        auto outcomes = apply(text, root);
        EXPECT_TRUE(outcomes.ok()) << outcomes.error().what();
        std::vector<std::string> lines;
        if (outcomes.ok()) {
            for (const auto& outcome : outcomes.value()) {
                lines.push_back(outcome.name + " " + outcome.result +
                                (outcome.error.empty() ? "" : " " + outcome.error + ": " + outcome.message));
            }
        }
        return lines;
    }

    void runningAs(const std::string& name, std::uint32_t leader) {
        machines.machines[name] = {name, "nixos-container@" + name + ".service", leader, "", 0};
    }

    std::string confOf(const std::string& name) const {
        std::ifstream in(settings.configDir / (name + ".conf"));
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
};

TEST_F(DeclarativeApplyTest, ANewContainerIsCreatedDeclaredAndStartedWhenAutoStart) {
    runningAs("web", 4242);
    auto lines =
        applied(set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}}}}},
                     {"db", {{"Spec", {{"SystemPath", system("abc-system")}}}}}}));
    EXPECT_EQ(lines, (std::vector<std::string>{"db created", "web created"}));
    const auto& web = manager().get("web");
    EXPECT_TRUE(web.declarative);
    EXPECT_FALSE(web.templateUnit);
    EXPECT_EQ(web.state, ContainerState::Running);
    // The service's own unit, not nixpkgs' template.
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].name, "nixos-container@web.service");
    EXPECT_TRUE(systemd.startedUnits.empty());
    EXPECT_THAT(confOf("web"), HasSubstr("DECLARATIVE=1\n"));
    EXPECT_EQ(manager().get("db").state, ContainerState::Stopped);
    // The root user's defaults, as a Create by root gets them.
    EXPECT_EQ(web.spec.privateUsers, "no");
}

TEST_F(DeclarativeApplyTest, TheServiceStartingLeavesDeclaredAutoStartContainersToTheSetsApply) {
    runningAs("web", 4242);
    applied(set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}}}}}}));
    ASSERT_TRUE(perform(Verb::Stop, "web", root).ok());  // as a host's shutdown leaves it
    ASSERT_TRUE(create(
                    "mine",
                    [this] {
                        auto spec = systemSpec();
                        spec.autoStart = true;
                        return spec;
                    }(),
                    root)
                    .ok());
    systemd.started.clear();
    runningAs("mine", 4343);
    manager_.reset();
    manager();  // recovers, then AutoStart
    ASSERT_EQ(systemd.started.size(), 1U);
    EXPECT_EQ(systemd.started[0].name, "nixos-container@mine.service");
    // The boot's apply starts it, with the set's spec.
    EXPECT_EQ(
        applied(set({{"web", {{"Spec", {{"SystemPath", system("def-system")}, {"AutoStart", true}}}}}})),
        (std::vector<std::string>{"web updated"}));
    EXPECT_EQ(manager().get("web").state, ContainerState::Running);
    EXPECT_EQ(manager().get("web").spec.systemPath, system("def-system"));
}

TEST_F(DeclarativeApplyTest, OverTheBusADeclaredContainerRefusesUpdateAndDestroyButStartsAndStops) {
    applied(set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}}}}}}));
    SpecPatch autoStart;
    autoStart.set("AutoStart", [](ContainerSpec& spec) { spec.autoStart = true; });
    auto updated = update("web", autoStart, root);
    ASSERT_FALSE(updated.ok());
    EXPECT_EQ(updated.error().code(), ErrorCode::Declarative);
    auto destroyed = perform(Verb::Destroy, "web", root);
    ASSERT_FALSE(destroyed.ok());
    EXPECT_EQ(destroyed.error().code(), ErrorCode::Declarative);
    runningAs("web", 4242);
    EXPECT_TRUE(perform(Verb::Start, "web", root).ok());
    EXPECT_TRUE(perform(Verb::Stop, "web", root).ok());
    // Known as declared after a restart of the service, from its conf.
    manager_.reset();
    EXPECT_TRUE(manager().get("web").declarative);
}

TEST_F(DeclarativeApplyTest, EachChangeGetsItsKeysDecision) {
    const auto first = set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}}}}},
                            {"db",
                             {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}}},
                              {"RestartIfChanged", false}}}});
    runningAs("web", 4242);
    runningAs("db", 4343);
    applied(first);
    ASSERT_EQ(systemd.started.size(), 2U);

    // Nothing changed: nothing done.
    EXPECT_EQ(applied(first), (std::vector<std::string>{"db unchanged", "web unchanged"}));

    // A new system reloads; a limit is set live, with no restart.
    auto second =
        set({{"web",
              {{"Spec", {{"SystemPath", system("def-system")}, {"AutoStart", true}, {"MemoryMax", "256M"}}}}},
             {"db",
              {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}}},
               {"RestartIfChanged", false}}}});
    EXPECT_EQ(applied(second), (std::vector<std::string>{"db unchanged", "web reloaded"}));
    EXPECT_EQ(systemd.started.size(), 2U);
    ASSERT_EQ(processes.requests.size(), 1U);
    EXPECT_EQ(processes.requests[0].argv.at(0), "/nix/store/def-system/bin/switch-to-configuration");
    ASSERT_EQ(systemd.propertiesSet.size(), 1U);
    EXPECT_EQ(systemd.propertiesSet[0].first, "nixos-container@web.service");

    // A bind restarts web; db's restartIfChanged = false keeps it running.
    nlohmann::json binds =
        nlohmann::json::array({{{"MountPoint", "/mnt"}, {"HostPath", "/srv"}, {"ReadOnly", true}}});
    auto third =
        set({{"web",
              {{"Spec",
                {{"SystemPath", system("def-system")},
                 {"AutoStart", true},
                 {"MemoryMax", "256M"},
                 {"BindMounts", binds}}}}},
             {"db",
              {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}, {"BindMounts", binds}}},
               {"RestartIfChanged", false}}}});
    EXPECT_EQ(applied(third), (std::vector<std::string>{"db restart-pending", "web restarted"}));
    EXPECT_EQ(systemd.stopped, (std::vector<std::string>{"nixos-container@web.service"}));
    EXPECT_EQ(systemd.started.size(), 3U);
    EXPECT_EQ(manager().get("db").state, ContainerState::Running);
    EXPECT_EQ(manager().get("db").spec.bindMounts.size(), 1U);  // saved for its next start

    // Dropped: stopped and forgotten, its root kept.
    fs::create_directories(settings.stateDir / "db/etc");
    EXPECT_EQ(applied(set({{"web",
                            {{"Spec",
                              {{"SystemPath", system("def-system")},
                               {"AutoStart", true},
                               {"MemoryMax", "256M"},
                               {"BindMounts", binds}}}}}})),
              (std::vector<std::string>{"db removed", "web unchanged"}));
    EXPECT_EQ(manager().find("db"), nullptr);
    EXPECT_FALSE(fs::exists(settings.configDir / "db.conf"));
    EXPECT_TRUE(fs::exists(settings.stateDir / "db/etc"));
    EXPECT_EQ(systemd.stopped.back(), "nixos-container@db.service");
}

TEST_F(DeclarativeApplyTest, ABrokenEntryChangesNothingOfItsContainerAndTheOthersApply) {
    applied(set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}}}}}}));
    const auto before = confOf("web");
    auto lines =
        applied(set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}, {"TimeoutStartSec", "soon"}}}}},
                     {"no_such", {{"Spec", {{"SystemPath", system("abc-system")}}}}},
                     {"gone", {{"Spec", {{"SystemPath", system("missing-system")}}}}},
                     {"typed", {{"Spec", {{"AutoStart", "yes"}}}}},
                     {"ok", {{"Spec", {{"SystemPath", system("abc-system")}}}}}}));
    ASSERT_EQ(lines.size(), 5U);
    EXPECT_THAT(lines[0], HasSubstr("gone failed org.nixos.Containers.Error.InvalidArgument"));
    EXPECT_THAT(lines[1], HasSubstr("no_such failed org.nixos.Containers.Error.InvalidArgument"));
    EXPECT_EQ(lines[2], "ok created");
    EXPECT_THAT(
        lines[3],
        HasSubstr(
            "typed failed org.nixos.Containers.Error.InvalidArgument: container 'typed': key 'AutoStart'"));
    EXPECT_THAT(lines[4], HasSubstr("web failed org.nixos.Containers.Error.InvalidArgument"));
    EXPECT_THAT(lines[4], HasSubstr("TimeoutStartSec"));
    EXPECT_EQ(confOf("web"), before);
    EXPECT_EQ(manager().find("gone"), nullptr);
    EXPECT_FALSE(fs::exists(settings.configDir / "gone.conf"));
    EXPECT_FALSE(fs::exists(settings.profilesDir / "gone"));
}

TEST_F(DeclarativeApplyTest, AnImperativeContainerOfTheSameNameIsNeitherTakenNorChanged) {
    ASSERT_TRUE(create("web", systemSpec(), root).ok());
    const auto before = confOf("web");
    auto lines = applied(set({{"web", {{"Spec", {{"SystemPath", system("def-system")}}}}}}));
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_THAT(lines[0],
                HasSubstr("web failed org.nixos.Containers.Error.AlreadyExists: container 'web' exists "
                          "and was not declared"));
    EXPECT_EQ(confOf("web"), before);
    EXPECT_FALSE(manager().get("web").declarative);
    // Nor is it dropped by a set that does not name it.
    EXPECT_TRUE(applied(set(nlohmann::json::object())).empty());
    EXPECT_NE(manager().find("web"), nullptr);
}

TEST_F(DeclarativeApplyTest, TheSetItselfWrongOrTheCallerNotRootIsRefusedWhole) {
    auto notJson = apply("{", root);
    ASSERT_FALSE(notJson.ok());
    EXPECT_EQ(notJson.error().code(), ErrorCode::InvalidArgument);
    auto noContainers = apply(R"({"containers": {}})", root);
    ASSERT_FALSE(noContainers.ok());
    EXPECT_THAT(noContainers.error().what(), HasSubstr("must be an object with a \"Containers\" object"));
    auto denied = apply(set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}}}}}}), user);
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.error().code(), ErrorCode::AccessDenied);
    ASSERT_EQ(authorizer.checks.size(), 1U);
    // Asked before the set is read: a refused caller never has it parsed.
    auto deniedGarbage = apply("{", user);
    ASSERT_FALSE(deniedGarbage.ok());
    EXPECT_EQ(deniedGarbage.error().code(), ErrorCode::AccessDenied);
    EXPECT_EQ(authorizer.checks[0].first, "org.nixos.containers.apply-declarative");
    // The host's set is root's: no rule granting callers what they own
    // (the shipped owners' rule) may match it.
    EXPECT_EQ(authorizer.checks[0].second.at("owner_uid"), "0");
    EXPECT_EQ(authorizer.checks[0].second.at("container"), "");
    EXPECT_EQ(manager().find("web"), nullptr);
}

TEST_F(DeclarativeApplyTest, ASecondApplyWhileOneRunsIsBusy) {
    systemd.holdStarts = true;
    runningAs("web", 4242);
    std::optional<Outcome<std::vector<DeclarativeOutcome>>> first;
    manager().applyDeclarative(
        root, set({{"web", {{"Spec", {{"SystemPath", system("abc-system")}, {"AutoStart", true}}}}}}),
        [&](auto result) { first = std::move(result); });
    loop.drain();
    ASSERT_FALSE(first);
    auto second = apply(set(nlohmann::json::object()), root);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code(), ErrorCode::Busy);
    // A Stop cancels the declared start; the apply still answers once.
    EXPECT_TRUE(perform(Verb::Stop, "web", root).ok());
    ASSERT_TRUE(first && first->ok());
    ASSERT_EQ(first->value().size(), 1U);
    EXPECT_EQ(first->value()[0].result, "created");
    EXPECT_EQ(first->value()[0].error, "org.nixos.Containers.Error.StartFailed");
}

}  // namespace
}  // namespace nixos_containers
