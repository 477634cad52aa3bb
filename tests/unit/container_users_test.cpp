// Users and files of a container, read from its own tree.
#include "container_users.h"

#include "errors.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <map>

#include <filesystem>
#include <fstream>

namespace nixos_containers {
namespace {

constexpr const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# a comment\n"
    "broken line\n"
    "alice:x:1000:100:Alice:/home/alice:/bin/bash\n";

TEST(ContainerUsersTest, FindsAUserByNameOrUid) {
    auto alice = findUser(kPasswd, "alice");
    ASSERT_TRUE(alice.has_value());
    EXPECT_EQ(alice->uid, 1000U);
    EXPECT_EQ(alice->gid, 100U);
    EXPECT_EQ(alice->home, "/home/alice");
    EXPECT_EQ(alice->shell, "/bin/bash");
    EXPECT_EQ(findUser(kPasswd, "1000")->name, "alice");
    EXPECT_EQ(findUser(kPasswd, "root")->uid, 0U);
    EXPECT_FALSE(findUser(kPasswd, "bob").has_value());
    EXPECT_FALSE(findUser(kPasswd, "broken line").has_value());
}

TEST(ContainerUsersTest, SupplementaryGroupsListTheUsersMemberships) {
    const char* group = "users:x:100:\nwheel:x:10:root,alice\naudio:x:63:bob,alice\nvideo:x:26:bob\n";
    EXPECT_EQ(supplementaryGroups(group, "alice", 100), (std::vector<gid_t>{10, 63}));
    EXPECT_TRUE(supplementaryGroups(group, "carol", 100).empty());
}

// Both ways: openat2, and by hand (where openat2 is filtered).
class ReadBeneathTest : public ::testing::TestWithParam<bool> {
protected:
    ReadBeneathTest() {
        char pattern[] = "/tmp/nc-users-XXXXXX";
        top = mkdtemp(pattern);
        std::filesystem::create_directories(top / "root/etc");
        std::ofstream(top / "secret") << "host secret\n";
    }
    ~ReadBeneathTest() override { std::filesystem::remove_all(top); }
    std::filesystem::path top;
};

TEST_P(ReadBeneathTest, ReadsAFileOfTheTree) {
    std::ofstream(top / "root/etc/passwd") << kPasswd;
    EXPECT_EQ(readFileBeneath((top / "root").string(), "etc/passwd", 4096, GetParam()), std::string(kPasswd));
    EXPECT_FALSE(readFileBeneath((top / "root").string(), "etc/group", 4096, GetParam()).has_value());
}

TEST_P(ReadBeneathTest, LinksNeverLeaveTheTree) {
    // Relative and absolute links to the host's file both stay beneath the root.
    std::filesystem::create_symlink("../../secret", top / "root/etc/passwd");
    std::filesystem::create_symlink((top / "secret").string(), top / "root/etc/group");
    EXPECT_FALSE(readFileBeneath((top / "root").string(), "etc/passwd", 4096, GetParam()).has_value());
    EXPECT_FALSE(readFileBeneath((top / "root").string(), "etc/group", 4096, GetParam()).has_value());
}

TEST_P(ReadBeneathTest, RefusesWhatIsNotASmallRegularFile) {
    std::filesystem::create_directories(top / "root/etc/passwd");
    EXPECT_THROW(readFileBeneath((top / "root").string(), "etc/passwd", 4096, GetParam()), ContainerError);
    std::ofstream(top / "root/etc/group") << std::string(5000, 'x');
    EXPECT_THROW(readFileBeneath((top / "root").string(), "etc/group", 4096, GetParam()), ContainerError);
    ASSERT_EQ(::mkfifo((top / "root/etc/fifo").c_str(), 0600), 0);
    EXPECT_THROW(readFileBeneath((top / "root").string(), "etc/fifo", 4096, GetParam()), ContainerError);
}

TEST_P(ReadBeneathTest, LinksInsideTheTreeAreFollowedThere) {
    std::filesystem::create_directories(top / "root/data");
    std::ofstream(top / "root/data/passwd") << kPasswd;
    std::filesystem::create_symlink("/data/passwd", top / "root/etc/passwd");
    std::filesystem::create_symlink("../../../../data/passwd", top / "root/etc/group");
    EXPECT_EQ(readFileBeneath((top / "root").string(), "etc/passwd", 4096, GetParam()), std::string(kPasswd));
    EXPECT_EQ(readFileBeneath((top / "root").string(), "etc/group", 4096, GetParam()), std::string(kPasswd));
}

INSTANTIATE_TEST_SUITE_P(BothWays, ReadBeneathTest, ::testing::Values(true, false));

// The service reads a container's os-release itself (machined would wait on
// a FIFO there, for every machine): systemd's format, malformed lines left out.
TEST(OSRelease, ParsedAsSystemdReadsIt) {
    const auto fields = parseOSRelease(
        "# a comment\n"
        "NAME=\"NixOS\"\n"
        "ID=nixos\n"
        "  VERSION_ID='24.05'  \n"
        "PRETTY_NAME=\"NixOS \\\"Uakari\\\"\"\n"
        "BROKEN=\"unterminated\n"
        "bad key=1\n"
        "=nothing\n"
        "EMPTY=\n");
    const std::map<std::string, std::string> expected = {{"NAME", "NixOS"},
                                                         {"ID", "nixos"},
                                                         {"VERSION_ID", "24.05"},
                                                         {"PRETTY_NAME", "NixOS \"Uakari\""},
                                                         {"EMPTY", ""}};
    EXPECT_EQ(fields, expected);
}

TEST(OSRelease, OfARunningProcessIsReadBeneathItsRoot) {
    // This process's root is the host's: what it finds is the host's file.
    const auto fields = readOSRelease(::getpid());
    EXPECT_TRUE(fields.contains("ID")) << "no ID in /etc/os-release";
}

}  // namespace
}  // namespace nixos_containers
