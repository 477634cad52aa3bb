// The unit's cgroup limits: systemd's syntax, the unit properties they give,
// and what a running unit needs when they change (unit_limits.h).
#include "unit_limits.h"
#include "expect_error.h"
#include "spec_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace nixos_containers {
namespace {

constexpr std::uint64_t kInfinity = UINT64_MAX;

TEST(UnitLimits, EachKeyGivesItsPropertyInSystemdsUnits) {
    ContainerSpec spec;
    spec.memoryMax = "1G";
    spec.memoryHigh = "infinity";
    spec.cpuWeight = "10000";
    spec.cpuQuota = "50%";
    spec.tasksMax = "100";
    spec.ioWeight = "1";
    EXPECT_EQ(unitLimits(spec), (std::vector<UnitProperty>{{"MemoryMax", 1ULL << 30},
                                                           {"MemoryHigh", kInfinity},
                                                           {"CPUWeight", 10000},
                                                           {"CPUQuotaPerSecUSec", 500'000},
                                                           {"TasksMax", 100},
                                                           {"IOWeight", 1}}));
    EXPECT_TRUE(unitLimits(ContainerSpec{}).empty());
}

TEST(UnitLimits, OnlyWhatChangedIsSetAndAClearedKeyGoesBackToTheDefault) {
    ContainerSpec before;
    before.memoryMax = "1G";
    before.cpuWeight = "50";
    auto after = before;
    after.memoryMax = "2G";
    after.cpuWeight.clear();
    after.cpuQuota = "200%";
    EXPECT_EQ(changedUnitLimits(before, after),
              (std::vector<UnitProperty>{
                  {"MemoryMax", 2ULL << 30}, {"CPUWeight", kInfinity}, {"CPUQuotaPerSecUSec", 2'000'000}}));
    EXPECT_TRUE(changedUnitLimits(before, before).empty());
    EXPECT_FALSE(clearingNeedsRestart(before, after));
}

TEST(UnitLimits, ClearingTasksMaxNeedsARestartAndEveryOtherChangeIsLive) {
    ContainerSpec before;
    before.tasksMax = "64";
    auto after = before;
    after.tasksMax.clear();
    EXPECT_TRUE(clearingNeedsRestart(before, after));
    EXPECT_EQ(classifyUpdate(before, after), UpdateEffect::Restart);
    EXPECT_TRUE(changedUnitLimits(before, after).empty());
    for (const auto& key : unitLimitKeys()) {
        ContainerSpec changed;
        changed.*key.field = key.key == "CPUQuota" ? "10%" : "7";
        EXPECT_EQ(classifyUpdate(ContainerSpec{}, changed), UpdateEffect::Live) << key.key;
    }
}

TEST(UnitLimits, EveryLimitIsASpecKeyUpdatedLive) {
    for (const auto& limit : unitLimitKeys()) {
        bool found = false;
        for (const auto& key : specKeys()) {
            if (key.busName == limit.key) {
                found = true;
                EXPECT_EQ(key.onChange, UpdateEffect::Live) << limit.key;
                EXPECT_EQ(key.validate, &validateUnitLimits) << limit.key;
                EXPECT_EQ(key.asksHost, nullptr) << limit.key << ": a limit only confines";
            }
        }
        EXPECT_TRUE(found) << limit.key << " has no spec key row";
    }
}

TEST(UnitLimits, BadValuesAreRefusedNamingTheKey) {
    const std::vector<std::pair<void (*)(ContainerSpec&), std::string>> cases = {
        {[](ContainerSpec& s) { s.memoryHigh = "lots"; }, "MemoryHigh 'lots' is not a size"},
        {[](ContainerSpec& s) { s.cpuWeight = "0"; }, "CPUWeight '0' is not a whole number from 1 to 10000"},
        {[](ContainerSpec& s) { s.cpuWeight = "10001"; }, "CPUWeight '10001' is not a whole number"},
        {[](ContainerSpec& s) { s.ioWeight = "-5"; }, "IOWeight '-5' is not a whole number"},
        {[](ContainerSpec& s) { s.cpuQuota = "50"; }, "CPUQuota '50' is not a percentage"},
        {[](ContainerSpec& s) { s.cpuQuota = "0%"; }, "CPUQuota '0' is not a whole number from 1"},
        {[](ContainerSpec& s) { s.cpuQuota = "12.5%"; }, "CPUQuota '12.5' is not a whole number"},
        {[](ContainerSpec& s) { s.tasksMax = "10%"; }, "TasksMax '10%' is not a whole number"},
        {[](ContainerSpec& s) { s.tasksMax = "0"; }, "TasksMax '0' is not a whole number"},
    };
    for (const auto& [set, message] : cases) {
        ContainerSpec spec;
        set(spec);
        expectInvalid([&] { validateUnitLimits(spec, Settings{}); }, message);
    }
}

}  // namespace
}  // namespace nixos_containers
