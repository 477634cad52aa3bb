#pragma once

#include "errors.h"

#include <functional>
#include <optional>
#include <utility>
#include <variant>

namespace nixos_containers {

// The result of an asynchronous step: a value or the ContainerError that
// stopped it. Synchronous core functions throw; completions carry an Outcome.
template <typename T>
class Outcome {
public:
    Outcome(T value) : state_(std::move(value)) {}               // NOLINT(google-explicit-constructor)
    Outcome(ContainerError error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return std::holds_alternative<T>(state_); }
    [[nodiscard]] const T& value() const { return std::get<T>(state_); }
    [[nodiscard]] T& value() { return std::get<T>(state_); }
    [[nodiscard]] const ContainerError& error() const { return std::get<ContainerError>(state_); }

private:
    std::variant<T, ContainerError> state_;
};

struct Done {};
using Status = Outcome<Done>;
using StatusCallback = std::function<void(Status)>;

template <typename T>
using Callback = std::function<void(Outcome<T>)>;

}  // namespace nixos_containers
