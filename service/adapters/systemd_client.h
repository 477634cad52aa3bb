#pragma once

#include "system_seams.h"

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <memory>
#include <string>

namespace nixos_containers {

// SystemdManager over org.freedesktop.systemd1, asynchronous throughout.
class SystemdClient final : public SystemdManager {
public:
    explicit SystemdClient(sdbus::IConnection& connection,
                           std::string destination = "org.freedesktop.systemd1");

    void startTransientUnit(const TransientUnit& unit, StatusCallback done) override;
    void startUnit(const std::string& unit, StatusCallback done) override;
    void stopUnit(const std::string& unit, StatusCallback done) override;
    void killUnit(const std::string& unit, int signal, StatusCallback done) override;
    void resetFailedUnit(const std::string& unit, StatusCallback done) override;
    void setUnitProperties(const std::string& unit, const std::vector<UnitProperty>& properties,
                           StatusCallback done) override;
    void unitState(const std::string& unit, Callback<UnitState> done) override;
    void listUnits(const std::vector<std::string>& patterns,
                   Callback<std::map<std::string, UnitState>> done) override;
    void watchUnits(const std::vector<std::string>& unitPrefixes,
                    std::function<void(const std::string&, const UnitState&)> onChange) override;

private:
    struct PendingJob {
        std::string unit;
        ErrorCode failure;
        StatusCallback done;
    };
    void awaitJob(const std::string& unit, ErrorCode failure, StatusCallback done, const sdbus::Error* error,
                  const sdbus::ObjectPath& job);
    void onJobRemoved(const sdbus::ObjectPath& job, const std::string& unit, const std::string& result);
    void completeJob(PendingJob pending, const std::string& result);
    void onUnitProperties(sdbus::Message& message);

    sdbus::IConnection& connection_;
    std::string destination_;
    std::unique_ptr<sdbus::IProxy> manager_;
    sdbus::Slot propertiesMatch_;
    // By job path. systemd answers a request that an already queued job
    // satisfies (a second StopUnit) with that job: one job, several waiters.
    std::multimap<std::string, PendingJob> jobs_;
    // Results of finished jobs, for a waiter whose reply comes after the
    // JobRemoved (they can race); job paths are never reused.
    std::map<std::string, std::string> finishedJobs_;
    std::function<void(const std::string&, const UnitState&)> onUnitChange_;
    std::vector<std::string> watchedPathPrefixes_;  // object paths of the watched unit prefixes
};

}  // namespace nixos_containers
