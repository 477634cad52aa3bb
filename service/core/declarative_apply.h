#pragma once

#include "declarative_set.h"
#include "verb_context.h"

#include <memory>
#include <string>
#include <vector>

namespace nixos_containers {

// What ApplyDeclarative did to one container.
struct DeclarativeOutcome {
    std::string name;
    // created, updated (nothing or only live limits asked of it), reloaded,
    // restarted, restart-pending (restartIfChanged = false), unchanged,
    // started (unchanged, but AutoStart and not running), removed, failed.
    std::string result;
    std::string error;  // the D-Bus error name when a step failed, else empty
    std::string message;
};

// NixOS's declarative set made true, one container at a time and each as one
// change: a container the set adds is created (and started when AutoStart), a
// changed one updated with its keys' decision (live limits, a reload, a
// restart, or none when restartIfChanged is false), one it no longer names
// stopped and forgotten with its data kept. A container that cannot be
// changed (a bad key, a name taken by an imperative container, Busy) is left
// as it is and the others still apply. Runs as the service itself, after the
// caller's authorisation, on the same verbs as Create, Update and Start.
class DeclarativeApplier {
public:
    explicit DeclarativeApplier(VerbContext& context) : context_(context) {}

    // Answers once every container's change has ended, in the order removed,
    // then declared, each by name. Busy when another apply still runs.
    void apply(std::vector<DeclaredContainer> set, Callback<std::vector<DeclarativeOutcome>> done);

private:
    struct Run;
    void next(const std::shared_ptr<Run>& run);
    void forget(const std::shared_ptr<Run>& run, std::size_t index);
    void declare(const std::shared_ptr<Run>& run, std::size_t index);
    void update(const std::shared_ptr<Run>& run, std::size_t index);
    // Starts an AutoStart container that is not running, then ends the step.
    void startIfAuto(const std::shared_ptr<Run>& run, std::size_t index);
    void finishStep(const std::shared_ptr<Run>& run);

    VerbContext& context_;
    std::weak_ptr<Run> running_;
};

}  // namespace nixos_containers
