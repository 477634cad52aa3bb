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
    std::unique_ptr<sdbus::IProxy> authority_;
};

}  // namespace nixos_containers
