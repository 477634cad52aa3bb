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
                EXPECT_EQ(updateEffectOf(key), UpdateEffect::Live) << limit.key;
                EXPECT_EQ(key.validate, &validateUnitLimits) << limit.key;
                // Above the admin's limit for tenants (or none), a limit asks for host access.
                EXPECT_NE(key.asksHost, nullptr) << limit.key;
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

// Issue 25: containers of users other than root get the admin's limits when
// their spec says none, and higher ones ask for host access.
TEST(UnitLimits, TenantsGetTheAdminsLimitsAndCannotRaiseThemWithoutHostAccess) {
    Settings settings;
    EXPECT_EQ(settings.tenantLimits.at("TasksMax"), "4096");
    EXPECT_EQ(settings.tenantLimits.at("MemoryMax"), "4G");
    ContainerSpec spec;
    spec.memoryMax = "1G";
    applyTenantLimits(spec, settings);
    EXPECT_EQ(spec.tasksMax, "4096");
    EXPECT_EQ(spec.memoryMax, "1G");  // what the spec says stays
    EXPECT_TRUE(spec.cpuQuota.empty());
    const auto* tasks = unitLimitKeyOf(&ContainerSpec::tasksMax);
    ASSERT_NE(tasks, nullptr);
    EXPECT_FALSE(aboveTenantLimit(*tasks, spec, settings));
    spec.tasksMax = "infinity";
    EXPECT_TRUE(aboveTenantLimit(*tasks, spec, settings));
    spec.tasksMax.clear();
    EXPECT_TRUE(aboveTenantLimit(*tasks, spec, settings));
    settings = Settings::fromEnvironment(
        {{"NIXOS_CONTAINERS_TENANT_TASKS_MAX", ""}, {"NIXOS_CONTAINERS_TENANT_CPU_QUOTA", "150%"}});
    EXPECT_FALSE(settings.tenantLimits.contains("TasksMax"));
    EXPECT_EQ(settings.tenantLimits.at("CPUQuota"), "150%");
    EXPECT_FALSE(aboveTenantLimit(*tasks, spec, settings));
    EXPECT_THROW(Settings::fromEnvironment({{"NIXOS_CONTAINERS_TENANT_IO_WEIGHT", "lots"}}),
                 std::invalid_argument);
}

}  // namespace
}  // namespace nixos_containers
