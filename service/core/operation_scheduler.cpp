#include "operation_scheduler.h"

#include "log.h"

#include <utility>

namespace nixos_containers {

OperationPtr OperationScheduler::begin(const Caller& caller, const std::string& name, const std::string& verb,
                                       StatusCallback done) {
    if (inFlight_ >= maxOperations_) {
        done(ContainerError(ErrorCode::LimitsExceeded, "too many operations in flight (" +
                                                           std::to_string(inFlight_) + "); try again later"));
        return nullptr;
    }
    auto operation = std::make_shared<Operation>();
    operation->caller = caller;
    operation->name = name;
    operation->verb = verb;
    operation->done = std::move(done);
    ++inFlight_;
    holders_[name] = operation;
    return operation;
}

bool OperationScheduler::end(const OperationPtr& operation) {
    if (operation->finished) {
        logError("operation " + operation->verb + " on '" + operation->name + "' answered twice");
        return false;
    }
    operation->finished = true;
    --inFlight_;
    if (auto held = holders_.find(operation->name);
        held != holders_.end() && held->second.lock() == operation) {
        holders_.erase(held);
    }
    return true;
}

OperationPtr OperationScheduler::holding(const std::string& name) const {
    auto held = holders_.find(name);
    return held == holders_.end() ? nullptr : held->second.lock();
}

}  // namespace nixos_containers
