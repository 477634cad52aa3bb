#pragma once

#include "outcome.h"
#include "system_seams.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace nixos_containers {

// polkit, as every privileged call meets it: root and the service itself
// pass, anyone else is asked about `actionId` with the container, the verb
// and the container's owner as details. A failed check is a denial, never
// an open door. The owner's name comes from NSS, which may block (LDAP,
// sssd): it is looked up on `worker`, off the loop.
class AuthorizationGate {
public:
    // The owner's uid of an existing container; nullopt when there is none
    // (a Create: the caller would own it).
    using OwnerOf = std::function<std::optional<std::uint32_t>(const std::string& container)>;

    AuthorizationGate(Authorizer& authorizer, Worker& worker, OwnerOf ownerOf)
        : authorizer_(authorizer), worker_(worker), ownerOf_(std::move(ownerOf)) {}

    // Completes with ok, or AccessDenied / InteractiveAuthorizationRequired /
    // LimitsExceeded.
    // `extra` details (user, command) are passed to polkit beside those two.
    void authorize(const Caller& caller, const std::string& actionId, const std::string& container,
                   const std::string& verb, StatusCallback done,
                   const std::map<std::string, std::string>& extra = {});
    // An action on no one container but on the host's whole set of them
    // (ApplyDeclarative): the container detail is empty and the owner is
    // root, never the caller, so that no rule granting callers what they
    // own grants it.
    void authorizeHostWide(const Caller& caller, const std::string& actionId, const std::string& verb,
                           StatusCallback done);
    // What authorize would ask polkit, with the same details and bounds, but
    // polkit's own answer (Allowed for root and the service): GetPermissions.
    // LimitsExceeded when the caller has too many pending; polkit's failure
    // as its error.
    void ask(const Caller& caller, const std::string& actionId, const std::string& container,
             const std::string& verb, Callback<Authorization> done,
             const std::map<std::string, std::string>& extra = {});

private:
    void check(const Caller& caller, const std::string& actionId, const std::string& container,
               std::uint32_t owner, const std::string& verb, StatusCallback done,
               const std::map<std::string, std::string>& extra);
    void query(const Caller& caller, const std::string& actionId, const std::string& container,
               std::uint32_t owner, const std::string& verb, Callback<Authorization> done,
               const std::map<std::string, std::string>& extra);
    // A caller whose polkit agent never answers must not pile up checks.
    static constexpr std::size_t kMaxPendingPerCaller = 16;
    Authorizer& authorizer_;
    Worker& worker_;
    OwnerOf ownerOf_;
    std::map<std::uint32_t, std::size_t> pending_;
};

}  // namespace nixos_containers
