#pragma once

#include "outcome.h"
#include "system_seams.h"

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace nixos_containers {

// One operation on one container: a verb, a Create or an Update.
struct Operation {
    Caller caller;
    std::string name;
    std::string verb;
    StatusCallback done;
    bool finished = false;
    bool creating = false;  // a Create: the container does not exist yet
    // A start (or restart) a Stop or Terminate cancelled: it gives up at its
    // next step, or systemd cancels the job it waits for.
    std::string cancelledBy;
    std::string unitStarting;  // the unit whose start job it waits for
    // The process it waits for (a Reload's switch-to-configuration): a Stop
    // or Terminate kills it.
    std::optional<ProcessId> process;
};
using OperationPtr = std::shared_ptr<Operation>;

// Operations in flight: a bound on their number, one per container, and an
// end that happens exactly once. Knows nothing of containers.
class OperationScheduler {
public:
    explicit OperationScheduler(std::size_t maxOperations) : maxOperations_(maxOperations) {}

    // The operation holding `name`, or null. Answers LimitsExceeded through
    // `done` (and returns null) when too many are in flight.
    OperationPtr begin(const Caller& caller, const std::string& name, const std::string& verb,
                       StatusCallback done);
    // Marks the operation ended and lets go of its container; false when it
    // had ended already (an answer must not be given twice).
    bool end(const OperationPtr& operation);
    [[nodiscard]] OperationPtr holding(const std::string& name) const;
    [[nodiscard]] std::size_t inFlight() const { return inFlight_; }

private:
    std::size_t maxOperations_;
    std::size_t inFlight_ = 0;
    std::map<std::string, std::weak_ptr<Operation>> holders_;
};

}  // namespace nixos_containers
