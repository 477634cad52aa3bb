#include "declarative_apply.h"

#include "container_verbs.h"
#include "log.h"
#include "spec_keys.h"
#include "spec_validation.h"
#include "validation.h"

#include <algorithm>
#include <deque>
#include <utility>

namespace nixos_containers {

struct DeclarativeApplier::Run {
    std::vector<DeclaredContainer> declared;  // by index; removals have no entry
    std::vector<DeclarativeOutcome> outcomes;
    std::deque<std::size_t> pending;  // indexes into outcomes
    std::size_t inFlight = 0;
    Callback<std::vector<DeclarativeOutcome>> done;
    std::size_t removals = 0;  // outcomes [0, removals) are removals
    // Steps that fail at once end inside next(): they must not start a loop
    // of their own (a thousand bad entries would be a thousand frames).
    bool draining = false;
};

namespace {

Caller service() {
    Caller caller;
    caller.internal = true;
    return caller;
}

void failWith(DeclarativeOutcome& outcome, const ContainerError& error) {
    outcome.result = "failed";
    outcome.error = std::string(errorName(error.code()));
    outcome.message = error.what();
}

// The set names every key: an update to it replaces the whole spec.
SpecPatch replacing(const ContainerSpec& spec) {
    SpecPatch patch;
    for (const auto& key : specKeys()) {
        patch.set(std::string(key.busName),
                  [&key, value = key.get(spec)](ContainerSpec& changed) { key.set(changed, value); });
    }
    return patch;
}

// The spec an update to `declared` would store (the addresses the service
// chose are kept, as Update keeps them).
ContainerSpec asStored(const ContainerSpec& before, ContainerSpec declared) {
    keepsItsAddresses(before, declared);
    return declared;
}

std::string resultOf(UpdateEffect effect, bool restartKept) {
    if (restartKept) {
        return "restart-pending";
    }
    switch (effect) {
        case UpdateEffect::None:
        case UpdateEffect::Live:
            return "updated";
        case UpdateEffect::Reload:
            return "reloaded";
        case UpdateEffect::Restart:
            return "restarted";
    }
    return "updated";
}

}  // namespace

void DeclarativeApplier::apply(std::vector<DeclaredContainer> set,
                               Callback<std::vector<DeclarativeOutcome>> done) {
    if (!running_.expired()) {
        done(ContainerError(ErrorCode::Busy, "another declarative set is being applied"));
        return;
    }
    auto run = std::make_shared<Run>();
    running_ = run;
    run->done = std::move(done);
    // Removals first: they free the names, addresses and ports the set may
    // now give to others.
    for (const auto& [name, container] : context_.registry.all()) {
        const bool named = std::any_of(
            set.begin(), set.end(), [&name = name](const auto& declared) { return declared.name == name; });
        if (container.declarative && !container.templateUnit && !named) {
            run->outcomes.push_back({name, "", "", ""});
        }
    }
    run->removals = run->outcomes.size();
    for (auto& declared : set) {
        run->outcomes.push_back({declared.name, "", "", ""});
    }
    run->declared = std::move(set);
    for (std::size_t index = 0; index < run->outcomes.size(); ++index) {
        run->pending.push_back(index);
    }
    next(run);
}

void DeclarativeApplier::next(const std::shared_ptr<Run>& run) {
    // A window, as AutoStart has: half the operations stay for callers.
    if (run->draining) {
        return;
    }
    run->draining = true;
    const std::size_t window = std::max<std::size_t>(1, context_.settings.maxOperations / 2);
    while (run->inFlight < window && !run->pending.empty()) {
        const auto index = run->pending.front();
        run->pending.pop_front();
        ++run->inFlight;
        if (index < run->removals) {
            forget(run, index);
        } else {
            declare(run, index);
        }
    }
    run->draining = false;
    if (run->inFlight == 0 && run->pending.empty() && run->done) {
        auto done = std::move(run->done);
        run->done = nullptr;
        done(std::move(run->outcomes));
    }
}

void DeclarativeApplier::finishStep(const std::shared_ptr<Run>& run) {
    --run->inFlight;
    next(run);
}

void DeclarativeApplier::forget(const std::shared_ptr<Run>& run, std::size_t index) {
    auto& outcome = run->outcomes[index];
    const auto& container = context_.registry.get(outcome.name);
    if (!container.operation.empty()) {
        failWith(outcome, ContainerError(ErrorCode::Busy, "container '" + outcome.name + "' is busy with " +
                                                              container.operation +
                                                              "; it stays until the next apply"));
        finishStep(run);
        return;
    }
    auto operation =
        context_.operations.begin(service(), outcome.name, "forget", [this, run, index](Status status) {
            auto& outcome = run->outcomes[index];
            if (status.ok()) {
                outcome.result = "removed";
                outcome.message = "stopped and forgotten; its root and profile are kept";
            } else {
                failWith(outcome, status.error());
            }
            finishStep(run);
        });
    if (!operation) {
        return;
    }
    forgetContainer(context_, operation, [this, operation](Status status) {
        context_.operations.finish(operation, std::move(status));
    });
}

void DeclarativeApplier::declare(const std::shared_ptr<Run>& run, std::size_t index) {
    const auto& declared = run->declared[index - run->removals];
    auto& outcome = run->outcomes[index];
    try {
        if (!declared.problem.empty()) {
            throwInvalid("container '" + declared.name + "': " + declared.problem);
        }
        const auto* existing = context_.registry.find(declared.name);
        if (existing == nullptr) {
            // Create's checks (an Update checks in updatedSpec).
            validateSpec(declared.spec, context_.settings);
            createContainer(
                context_, service(), declared.name, declared.spec,
                [this, run, index](const Outcome<std::string>& created) {
                    auto& outcome = run->outcomes[index];
                    if (!created.ok()) {
                        failWith(outcome, created.error());
                        finishStep(run);
                        return;
                    }
                    outcome.result = "created";
                    startIfAuto(run, index);
                },
                true);
            return;
        }
        if (!existing->declarative) {
            throw ContainerError(
                ErrorCode::AlreadyExists,
                "container '" + declared.name +
                    "' exists and was not declared (it was created over the bus): destroy it, "
                    "or declare the container under another name");
        }
        if (existing->templateUnit) {
            throw ContainerError(ErrorCode::AlreadyExists,
                                 "container '" + declared.name + "' is nixpkgs' module's (container@" +
                                     declared.name + ".service): remove it there first");
        }
        if (!existing->broken.empty()) {
            throwInvalid(brokenConfError(*existing));
        }
    } catch (const ContainerError& error) {
        failWith(outcome, error);
        finishStep(run);
        return;
    }
    update(run, index);
}

void DeclarativeApplier::update(const std::shared_ptr<Run>& run, std::size_t index) {
    const auto& declared = run->declared[index - run->removals];
    const auto& existing = context_.registry.get(declared.name);
    if (asStored(existing.spec, declared.spec) == existing.spec) {
        run->outcomes[index].result = "unchanged";
        startIfAuto(run, index);
        return;
    }
    auto change = std::make_shared<DeclaredChange>();
    change->restartIfChanged = declared.restartIfChanged;
    change->applied = [run, index](UpdateEffect effect, bool restartKept) {
        run->outcomes[index].result = resultOf(effect, restartKept);
    };
    updateContainer(
        context_, service(), declared.name, replacing(declared.spec),
        [this, run, index](const Status& updated) {
            auto& outcome = run->outcomes[index];
            if (!updated.ok()) {
                // A failure after the save (a reload or restart that failed)
                // keeps the result that says the change was saved.
                if (outcome.result.empty()) {
                    failWith(outcome, updated.error());
                } else {
                    outcome.error = std::string(errorName(updated.error().code()));
                    outcome.message = updated.error().what();
                }
                finishStep(run);
                return;
            }
            if (outcome.result.empty()) {
                outcome.result = "updated";  // saved; it was not running
            }
            startIfAuto(run, index);
        },
        change);
}

void DeclarativeApplier::startIfAuto(const std::shared_ptr<Run>& run, std::size_t index) {
    const auto& name = run->outcomes[index].name;
    const auto* container = context_.registry.find(name);
    if (container == nullptr || !container->spec.autoStart || container->state == ContainerState::Running ||
        !container->operation.empty()) {
        finishStep(run);
        return;
    }
    auto operation = context_.operations.begin(service(), name, "start", [this, run, index](Status status) {
        auto& outcome = run->outcomes[index];
        if (status.ok()) {
            outcome.message =
                outcome.result == "unchanged" ? "started (AutoStart)" : "then started (AutoStart)";
            if (outcome.result == "unchanged") {
                outcome.result = "started";
            }
        } else {
            outcome.error = std::string(errorName(status.error().code()));
            outcome.message = std::string("its start failed: ") + status.error().what();
        }
        finishStep(run);
    });
    if (!operation) {
        return;
    }
    logInfo("starting '" + name + "' (declared, AutoStart)");
    startContainer(context_, operation, [this, operation](Status status) {
        context_.operations.finish(operation, std::move(status));
    });
}

}  // namespace nixos_containers
