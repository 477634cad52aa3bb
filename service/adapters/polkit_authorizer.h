#pragma once

#include "system_seams.h"

#include <sdbus-c++/sdbus-c++.h>

#include <memory>

namespace nixos_containers {

// Authorizer over org.freedesktop.PolicyKit1.Authority.CheckAuthorization,
// with the caller's bus name as the subject (as systemd does).
class PolkitAuthorizer final : public Authorizer {
public:
    explicit PolkitAuthorizer(sdbus::IConnection& connection);
    void check(const Caller& caller, const std::string& actionId,
               const std::map<std::string, std::string>& details, Callback<Authorization> done) override;

private:
    // polkitd's absence (not on the bus, or not answering) is logged once
    // per outage: the first denial it causes, not every call.
    void noteAnswer(const sdbus::Error* error);

    std::unique_ptr<sdbus::IProxy> authority_;
    bool absenceLogged_ = false;
};

}  // namespace nixos_containers
