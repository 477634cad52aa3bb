#pragma once

// The manager over the fake seams, with a store in a temporary directory.
#include "container_manager.h"
#include "fake_seams.h"
#include "temp_settings.h"
#include "transient_unit.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

namespace nixos_containers {

class ContainerManagerTest : public ::testing::Test {
protected:
    ContainerManagerTest() {
        char pattern[] = "/tmp/nc-manager-XXXXXX";
        top = mkdtemp(pattern);
        settings = settingsUnder(top);
        std::filesystem::create_directories(settings.storeDir / "abc-system");
        std::ofstream(settings.storeDir / "abc-system/init") << "#!/bin/sh\n";
        std::ofstream(settings.resolvConf) << "nameserver 10.0.0.1\n";
        root.uid = 0;
        root.busName = ":1.1";
        user.uid = 61001;
        user.busName = ":1.42";
    }
    ~ContainerManagerTest() override { std::filesystem::remove_all(top); }

    ContainerManager& manager() {
        if (!manager_) {
            manager_ = std::make_unique<ContainerManager>(
                settings, Seams{systemd, machines, authorizer, network, binds, processes, worker, journal},
                observer);
            bool recovered = false;
            manager_->recover([&recovered](const Status&) { recovered = true; });
            loop.drain();
            EXPECT_TRUE(recovered);
        }
        return *manager_;
    }

    // As a Create over the bus makes it: PrivateUsers left to the service.
    ContainerSpec systemSpec() {
        ContainerSpec spec;
        spec.systemPath = (settings.storeDir / "abc-system").string();
        spec.privateUsers.clear();
        return spec;
    }

    Outcome<std::string> create(const std::string& name, ContainerSpec spec, const Caller& caller) {
        std::optional<Outcome<std::string>> answer;
        int answers = 0;
        manager().create(caller, name, std::move(spec), [&](Outcome<std::string> result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Outcome<std::string>(ContainerError(ErrorCode::Failed, "no answer")));
    }

    // "web" with a private network; machined will report 10.233.0.2 and
    // fe80::2 for it, but answers only when the test runs its held answer.
    void createWebWithMachinedAddressesHeld() {
        auto spec = systemSpec();
        spec.privateNetwork = true;
        ASSERT_TRUE(create("web", spec, root).ok());
        machines.machines["web"] = {"web", "nixos-container@web.service", 4242, "", 0};
        machines.addresses["web"] = {"10.233.0.2", "fe80::2"};
        machines.holdAddresses = true;
    }

    // Two verbs on one container, the second sent before anything of the
    // first ran (as two callers racing); their answers once all is done.
    std::pair<std::optional<Status>, std::optional<Status>> performRacing(Verb first, Verb second,
                                                                          const std::string& name) {
        std::pair<std::optional<Status>, std::optional<Status>> answers;
        manager().perform(root, first, name,
                          [&answers](Status status) { answers.first = std::move(status); });
        manager().perform(root, second, name,
                          [&answers](Status status) { answers.second = std::move(status); });
        loop.drain();
        return answers;
    }

    // NAME created and running, its leader this test process (so its files
    // are the host's, read as "its" tree).
    void startRunning(const std::string& name) {
        ASSERT_TRUE(create(name, systemSpec(), root).ok());
        machines.machines[name] = {name, "nixos-container@" + name + ".service",
                                   static_cast<std::uint32_t>(::getpid()), "", 0};
        ASSERT_TRUE(perform(Verb::Start, name, root).ok());
    }

    Status update(const std::string& name, const SpecPatch& patch, const Caller& caller) {
        std::optional<Status> answer;
        int answers = 0;
        manager().update(caller, name, patch, [&](Status result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Status(ContainerError(ErrorCode::Failed, "no answer")));
    }

    Status perform(Verb verb, const std::string& name, const Caller& caller) {
        std::optional<Status> answer;
        int answers = 0;
        manager().perform(caller, verb, name, [&](Status result) {
            answer = std::move(result);
            ++answers;
        });
        loop.drain();
        EXPECT_EQ(answers, 1);
        return answer.value_or(Status(ContainerError(ErrorCode::Failed, "no answer")));
    }

    std::filesystem::path top;
    Settings settings;
    Deferred loop;
    FakeSystemd systemd{loop};
    FakeMachines machines{loop};
    FakeAuthorizer authorizer{loop};
    FakeNetwork network;
    FakeBindPins binds;
    FakeProcesses processes{loop};
    FakeWorker worker{loop};
    FakeJournal journal;
    RecordingObserver observer;
    Caller root;
    Caller user;
    std::unique_ptr<ContainerManager> manager_;
};

}  // namespace nixos_containers
