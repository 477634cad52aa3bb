#include "terminal_opener.h"

#include "run_command.h"
#include "verb_table.h"

#include <utility>

namespace nixos_containers {

namespace {

void validate(const ShellRequest& request) {
    validateUser(request.user);
    if (request.path.empty() && !request.args.empty()) {
        throwInvalid("arguments without a program: give the program's absolute path too");
    }
    if (!request.path.empty() && request.path.front() != '/') {
        throwInvalid("program " + quoteValue(request.path) + " is not an absolute path");
    }
    validateEnvironment(request.environment);
}

}  // namespace

std::string shellCommand(const ShellRequest& request) {
    if (request.path.empty()) {
        return "";
    }
    return joinedCommand(request.args.empty() ? std::vector<std::string>{request.path} : request.args);
}

void TerminalOpener::openShell(const Caller& caller, const std::string& name, ShellRequest request,
                               Callback<MachineTerminal> done) {
    try {
        validate(request);
        (void)registry_.get(name);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    const std::map<std::string, std::string> details = {
        {"user", request.user.empty() ? "root" : request.user}, {"command", shellCommand(request)}};
    authorizeEntry(
        gate_, registry_, caller, kShellPolicy, name, details,
        [this, name, request = std::move(request), done = std::move(done)](const Outcome<bool>& allowed) {
            if (!allowed.ok()) {
                done(allowed.error());
                return;
            }
            whenRunning(
                name, allowed.value(),
                [this, name, request, done] { machines_.openShell(name, request, done); }, done);
        });
}

void TerminalOpener::openLogin(const Caller& caller, const std::string& name,
                               Callback<MachineTerminal> done) {
    try {
        (void)registry_.get(name);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    authorizeEntry(gate_, registry_, caller, kLoginPolicy, name, {},
                   [this, name, done = std::move(done)](const Outcome<bool>& allowed) {
                       if (!allowed.ok()) {
                           done(allowed.error());
                           return;
                       }
                       whenRunning(
                           name, allowed.value(), [this, name, done] { machines_.openLogin(name, done); },
                           done);
                   });
}

void TerminalOpener::whenRunning(const std::string& name, bool hostAccessGranted, std::function<void()> open,
                                 const Callback<MachineTerminal>& done) {
    const auto* container = registry_.find(name);
    if (container == nullptr) {
        done(ContainerError(ErrorCode::NoSuchContainer, "no container '" + name + "'"));
        return;
    }
    if (container->state != ContainerState::Running) {
        done(ContainerError(ErrorCode::NotRunning, "container '" + name + "' is not running"));
        return;
    }
    try {
        checkEntry(*container, hostAccessGranted);
    } catch (const ContainerError& error) {
        done(error);
        return;
    }
    open();
}

}  // namespace nixos_containers
