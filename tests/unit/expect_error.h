#pragma once

#include "errors.h"

#include <gtest/gtest.h>

#include <string>

namespace nixos_containers {

// Runs `action` and checks it throws ContainerError(InvalidArgument) whose
// message contains `fragment`.
template <typename Action>
void expectInvalid(Action&& action, const std::string& fragment) {
    try {
        action();
        ADD_FAILURE() << "accepted; expected an error containing \"" << fragment << "\"";
    } catch (const ContainerError& error) {
        EXPECT_EQ(error.code(), ErrorCode::InvalidArgument) << error.what();
        EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos)
            << "message: " << error.what() << "\nexpected to contain: " << fragment;
    }
}

}  // namespace nixos_containers
