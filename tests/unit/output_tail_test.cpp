#include "process_output.h"

#include <gtest/gtest.h>

#include <string>

namespace nixos_containers {
namespace {

TEST(OutputTail, KeepsTheLastLinesWithoutBlankOnes) {
    OutputTail tail;
    for (const auto* line : {"one", "", "two", "three", "   ", "four", "five", "six"}) {
        tail.add(line);
    }
    EXPECT_EQ(tail.text(), "two | three | four | five | six");
}

TEST(OutputTail, KeepsNixsErrorHeadlineWhenTheLinesAfterItPushItOut) {
    // As nix-env reports an evaluation error: the headline, then the place.
    OutputTail tail;
    for (const auto* line :
         {"error: undefined variable 'nonsense'", "", "       at /etc/nixos-containers/web.nix:7:40:", "",
          "            6|   # BEGIN Config", "            7| { ... }: { payload.message = nonsense; }",
          "             |                                        ^", "            8|   # END Config",
          "(use '--show-trace' to show detailed location information)"}) {
        tail.add(line);
    }
    EXPECT_EQ(tail.text(),
              "error: undefined variable 'nonsense' | ... |             6|   # BEGIN Config | "
              "            7| { ... }: { payload.message = nonsense; } | "
              "             |                                        ^ |             8|   # END Config | "
              "(use '--show-trace' to show detailed location information)");
}

TEST(OutputTail, ShowsTheHeadlineOnceWhileItIsInTheTail) {
    OutputTail tail;
    tail.add("building '/nix/store/x.drv'...");
    tail.add("error: builder for '/nix/store/x.drv' failed with exit code 1");
    EXPECT_EQ(
        tail.text(),
        "building '/nix/store/x.drv'... | error: builder for '/nix/store/x.drv' failed with exit code 1");
}

}  // namespace
}  // namespace nixos_containers
