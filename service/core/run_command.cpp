#include "run_command.h"

#include "log.h"
#include "verb_table.h"

#include <algorithm>
#include <utility>

namespace nixos_containers {

namespace {

constexpr std::size_t kMaxIdentityFile = 4U << 20U;
constexpr unsigned long long kNoId = 4294967295ULL;

void validate(const RunCommand& command) {
    if (command.argv.empty() || command.argv.front().empty()) {
        throwInvalid("the command is empty");
    }
    validateUser(command.options.user);
    validateEnvironment(command.options.environment);
    const auto& directory = command.options.workingDirectory;
    if (!directory.empty() && directory.front() != '/') {
        throwInvalid("WorkingDirectory " + quoteValue(directory) + " is not absolute");
    }
    if (!command.stdio) {
        throwInvalid("stdin, stdout and stderr are missing");
    }
}

// Who the command runs as, from the container's passwd and group files as
// its init sees them.
struct Identity {
    PasswdEntry user;
    std::vector<gid_t> groups;
};

Identity resolveIdentity(pid_t leader, const std::string& container, const std::string& user) {
    const auto root = "/proc/" + std::to_string(leader) + "/root";
    auto passwd = readFileBeneath(root, "etc/passwd", kMaxIdentityFile);
    const std::string wanted = user.empty() ? "root" : user;
    auto entry = passwd ? findUser(*passwd, wanted) : std::nullopt;
    if (!entry) {
        bool numeric = std::all_of(wanted.begin(), wanted.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (wanted == "root" || wanted == "0") {
            // A container without a passwd (a bare payload) still has root.
            entry = PasswdEntry{"root", 0, 0, "/root", "/bin/sh"};
        } else if (numeric && wanted.size() <= 10 && std::stoull(wanted) < kNoId) {
            auto uid = static_cast<uid_t>(std::stoull(wanted));
            entry = PasswdEntry{wanted, uid, static_cast<gid_t>(uid), "/", "/bin/sh"};
        } else {
            throwInvalid("container '" + container + "' has no user " + quoteValue(wanted));
        }
    }
    // (uid_t)-1 would mean "unchanged" to setresuid: the service's root.
    if (entry->uid >= kNoId || entry->gid >= kNoId) {
        throwInvalid("user " + quoteValue(wanted) + " of container '" + container +
                     "' has an invalid uid or gid");
    }
    Identity identity{*entry, {}};
    if (auto group = readFileBeneath(root, "etc/group", kMaxIdentityFile)) {
        identity.groups = supplementaryGroups(*group, entry->name, entry->gid);
    }
    return identity;
}

}  // namespace

bool entryReachesHost(const Container& container) {
    return container.spec.privateUsers != "pick";
}

void authorizeEntry(AuthorizationGate& gate, const ContainerRegistry& registry, const Caller& caller,
                    const VerbPolicy& policy, const std::string& name,
                    const std::map<std::string, std::string>& details, Callback<bool> done) {
    if (caller.internal || caller.uid == 0) {
        done(true);
        return;
    }
    gate.authorize(
        caller, std::string(policy.action), name, std::string(policy.name),
        [&gate, &registry, caller, policy, name, details, done](const Status& allowed) {
            if (!allowed.ok()) {
                done(allowed.error());
                return;
            }
            // As the container is now: polkit may have taken its time.
            const auto* container = registry.find(name);
            if (container == nullptr || !entryReachesHost(*container)) {
                done(false);
                return;
            }
            auto hostDetails = details;
            hostDetails["keys"] = kEntryHostKey;
            gate.authorize(
                caller, std::string(kHostAccessAction), name, std::string(policy.name),
                [done](const Status& granted) {
                    if (!granted.ok()) {
                        done(granted.error());
                        return;
                    }
                    done(true);
                },
                hostDetails);
        },
        details);
}

void checkEntry(const Container& container, bool hostAccessGranted) {
    if (!hostAccessGranted && entryReachesHost(container)) {
        throw ContainerError(ErrorCode::AccessDenied,
                             "container '" + container.name +
                                 "' runs with the host's users now (PrivateUsers " +
                                 quoteValue(container.spec.privateUsers) +
                                 "), which needs org.nixos.containers.host-access; try again");
    }
}

bool isUserName(const std::string& user) {
    if (user.empty() || user.size() > 256 || user.front() == '-') {
        return false;
    }
    return std::all_of(user.begin(), user.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-' || c == '.' || c == '$';
    });
}

void validateUser(const std::string& user) {
    if (!user.empty() && !isUserName(user)) {
        throwInvalid("User " + quoteValue(user) + " is not a valid user name or uid");
    }
}

void validateEnvironment(const std::vector<std::string>& environment) {
    for (const auto& entry : environment) {
        auto equals = entry.find('=');
        auto name = std::string_view(entry).substr(0, equals == std::string::npos ? 0 : equals);
        bool valid =
            !name.empty() && !(name.front() >= '0' && name.front() <= '9') &&
            std::all_of(name.begin(), name.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            });
        if (!valid) {
            throwInvalid("Environment entry " + quoteValue(entry) + " is not NAME=VALUE");
        }
    }
}

std::string joinedCommand(const std::vector<std::string>& argv) {
    std::string text;
    for (const auto& word : argv) {
        text += (text.empty() ? "" : " ") + word;
    }
    return text;
}

std::vector<std::string> commandEnvironment(const PasswdEntry& user, const std::vector<std::string>& extra) {
    std::vector<std::string> environment = {
        std::string("PATH=") + kRunPath,
        "HOME=" + (user.home.empty() ? "/" : user.home),
        "USER=" + user.name,
        "LOGNAME=" + user.name,
        "SHELL=" + (user.shell.empty() ? "/bin/sh" : user.shell),
    };
    for (const auto& entry : extra) {
        auto name = entry.substr(0, entry.find('=') + 1);
        auto same = std::find_if(environment.begin(), environment.end(),
                                 [&name](const std::string& have) { return have.starts_with(name); });
        if (same != environment.end()) {
            *same = entry;
        } else {
            environment.push_back(entry);
        }
    }
    return environment;
}

std::vector<std::string> executableCandidates(const std::string& argv0,
                                              const std::vector<std::string>& environment) {
    if (argv0.find('/') != std::string::npos) {
        return {argv0};
    }
    std::string_view path;
    for (const auto& entry : environment) {
        if (entry.starts_with("PATH=")) {
            path = std::string_view(entry).substr(5);
        }
    }
    std::vector<std::string> candidates;
    while (!path.empty()) {
        auto colon = path.find(':');
        auto directory = path.substr(0, colon);
        if (!directory.empty() && directory.front() == '/') {
            candidates.push_back(std::string(directory) + (directory.back() == '/' ? "" : "/") + argv0);
        }
        path = colon == std::string_view::npos ? std::string_view{} : path.substr(colon + 1);
    }
    return candidates;
}

void CommandRunner::run(const Caller& caller, const std::string& name, RunCommand command,
                        Callback<ProcessExit> done) {
    try {
        validate(command);
        (void)registry_.get(name);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    const auto id = nextId_++;
    entries_.emplace(id, Entry{caller.busName, caller.uid, false, false, std::nullopt});
    const std::map<std::string, std::string> details = {
        {"user", command.options.user.empty() ? "root" : command.options.user},
        {"command", joinedCommand(command.argv)}};
    authorizeEntry(
        gate_, registry_, caller, kRunPolicy, name, details,
        [this, caller, id, name, command = std::move(command),
         done = std::move(done)](const Outcome<bool>& allowed) {
            if (!allowed.ok()) {
                finish(id, done, allowed.error());
                return;
            }
            if (cancelled(id, done)) {
                return;
            }
            try {
                takeSlot(id, caller);
            } catch (const ContainerError& error) {
                finish(id, done, error);
                return;
            }
            auto go = [this, id, name, command, done, hostAccess = allowed.value()] {
                if (cancelled(id, done)) {
                    return;
                }
                const auto* container = registry_.find(name);
                if (container == nullptr) {
                    finish(id, done,
                           ContainerError(ErrorCode::NoSuchContainer, "no container '" + name + "'"));
                    return;
                }
                if (container->state != ContainerState::Running || container->leader == 0) {
                    finish(id, done,
                           ContainerError(ErrorCode::NotRunning, "container '" + name + "' is not running"));
                    return;
                }
                try {
                    checkEntry(*container, hostAccess);
                } catch (const ContainerError& error) {
                    finish(id, done, error);
                    return;
                }
                resolved(id, name, static_cast<pid_t>(container->leader), command, done);
            };
            // A running container's leader is what the registry follows from
            // machined's and systemd's signals; the runner pins it and checks
            // that it is in the container's unit, so no round trip to
            // machined is needed. Otherwise machined is asked.
            const auto* container = registry_.find(name);
            if (container != nullptr && container->state == ContainerState::Running &&
                container->leader != 0) {
                go();
            } else {
                registry_.refreshMachine(name, go);
            }
        });
}

void CommandRunner::resolved(std::uint64_t id, const std::string& name, pid_t leader, RunCommand command,
                             Callback<ProcessExit> done) {
    auto identity = std::make_shared<Identity>();
    // Files of the container may sit on anything: read off the loop.
    worker_.run([identity, leader, name,
                 user = command.options.user] { *identity = resolveIdentity(leader, name, user); },
                [this, id, identity, leader, name, command, done](const Status& status) {
                    if (!status.ok()) {
                        finish(id, done, status.error());
                        return;
                    }
                    if (cancelled(id, done)) {
                        return;
                    }
                    ConfinedRequest request;
                    request.argv = command.argv;
                    request.environment = commandEnvironment(identity->user, command.options.environment);
                    request.executables = executableCandidates(command.argv.front(), request.environment);
                    request.workingDirectory =
                        command.options.workingDirectory.empty() ? "/" : command.options.workingDirectory;
                    request.identity = {identity->user.uid, identity->user.gid, identity->groups};
                    request.leader = leader;
                    if (const auto* container = registry_.find(name)) {
                        request.unit = container->unit;
                    }
                    request.stdio = command.stdio;
                    auto process = processes_.spawn(
                        request,
                        [this, id, done](const Outcome<ProcessExit>& exit) { finish(id, done, exit); });
                    // The service lets go of the caller's descriptors at once.
                    command.stdio->close();
                    if (auto entry = entries_.find(id); entry != entries_.end()) {
                        entry->second.process = process;
                    }
                });
}

void CommandRunner::takeSlot(std::uint64_t id, const Caller& caller) {
    if (caller.internal || caller.uid == 0) {
        return;
    }
    std::size_t ofUser = 0;
    std::size_t ofUsers = 0;
    for (const auto& [other, entry] : entries_) {
        if (entry.holdsSlot) {
            ++ofUsers;
            ofUser += entry.uid == caller.uid ? 1 : 0;
        }
    }
    if (ofUser >= settings_.maxRunsPerUser) {
        throw ContainerError(ErrorCode::LimitsExceeded, "uid " + std::to_string(caller.uid) + " has " +
                                                            std::to_string(ofUser) +
                                                            " commands running, its limit; try again later");
    }
    if (ofUsers >= settings_.maxRuns) {
        throw ContainerError(ErrorCode::LimitsExceeded,
                             std::to_string(ofUsers) + " commands are running; try again later");
    }
    entries_.at(id).holdsSlot = true;
}

bool CommandRunner::cancelled(std::uint64_t id, const Callback<ProcessExit>& done) {
    auto entry = entries_.find(id);
    if (entry == entries_.end() || !entry->second.cancelled) {
        return false;
    }
    finish(id, done, ContainerError(ErrorCode::Failed, "the caller left the bus"));
    return true;
}

void CommandRunner::finish(std::uint64_t id, const Callback<ProcessExit>& done, Outcome<ProcessExit> result) {
    auto entry = entries_.find(id);
    if (entry != entries_.end()) {
        if (entry->second.cancelled && result.ok()) {
            result = ContainerError(ErrorCode::Failed, "the caller left the bus; the command was killed");
        }
        entries_.erase(entry);
    }
    done(std::move(result));
}

void CommandRunner::callerGone(const std::string& busName) {
    for (auto& [id, entry] : entries_) {
        if (entry.busName != busName || entry.cancelled) {
            continue;
        }
        entry.cancelled = true;
        if (entry.process) {
            logInfo("the caller " + busName + " left: killing its command");
            processes_.kill(*entry.process);
        }
    }
}

}  // namespace nixos_containers
