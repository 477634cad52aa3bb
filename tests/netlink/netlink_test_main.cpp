// The tests create and delete real links, addresses, routes and namespace
// pins. Before any test runs, the process moves into a throwaway network
// namespace and a private mount namespace with its own /run, so nothing
// touches the host's networking or mounts, whatever a failing test leaves.
// Each test then moves into a fresh network namespace of its own (NetnsTest).

#include <gtest/gtest.h>

#include <sched.h>
#include <sys/mount.h>

#include <cstdio>
#include <cstring>
#include <string_view>

int main(int argc, char** argv) {
    bool listing = false;
    for (int i = 1; i < argc; ++i) {
        listing = listing || std::string_view(argv[i]).starts_with("--gtest_list_tests");
    }
    // Listing (gtest_discover_tests) needs no privileges and no sandbox.
    if (!listing) {
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
            std::fprintf(stderr, "netlink_tests: unshare(CLONE_NEWNET|CLONE_NEWNS): %s (run as root)\n",
                         std::strerror(errno));
            return 1;
        }
        // Nothing mounted here may propagate back to the host.
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) {
            std::perror("netlink_tests: preparing the private mount namespace");
            return 1;
        }
    }
    testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
