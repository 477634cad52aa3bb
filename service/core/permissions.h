#pragma once

#include "authorization_gate.h"
#include "container_registry.h"
#include "outcome.h"
#include "system_seams.h"
#include "verb_table.h"

#include <map>
#include <string>
#include <vector>

namespace nixos_containers {

// GetPermissions' values.
inline constexpr std::string_view kPermissionYes = "yes";
inline constexpr std::string_view kPermissionChallenge = "challenge";
inline constexpr std::string_view kPermissionNo = "no";
inline constexpr std::string_view kPermissionUnknown = "unknown";

// One question GetPermissions asks polkit: what a verb or call of the
// container sends when it is called in its plain form.
struct PermissionQuestion {
    std::string method;  // the answer's key
    VerbPolicy policy;
    std::map<std::string, std::string> details;  // besides container, verb and owner
    bool entersContainer = false;                // host access too (authorizeEntry)
};
// A container's questions (NAME not empty): every verb row but Create's, then
// the calls into it (kContainerCalls). NAME "": Create's alone.
std::vector<PermissionQuestion> permissionQuestions(bool forNewContainer);

// What CALLER may do to NAME, asked of polkit without interaction, one
// question at a time through the gate (its bound on pending checks holds:
// LimitsExceeded). Each answer: yes, challenge, no, or unknown when polkit
// failed. NoSuchContainer / InvalidArgument for NAME. Answers once.
void askPermissions(AuthorizationGate& gate, const ContainerRegistry& registry, const Caller& caller,
                    const std::string& name, Callback<std::map<std::string, std::string>> done);

}  // namespace nixos_containers
