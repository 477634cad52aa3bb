#pragma once

// Users and files of a container, read from its own tree: the container's
// root user may have planted links there, so nothing read here ever
// resolves outside that tree.

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers {

struct PasswdEntry {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home;
    std::string shell;
};

// The passwd(5) entry of `user`, a name or a decimal uid; none when absent.
std::optional<PasswdEntry> findUser(std::string_view passwd, std::string_view user);
// The gids of the group(5) entries that list `user` as a member, besides `primary`.
std::vector<gid_t> supplementaryGroups(std::string_view group, std::string_view user, gid_t primary);

// The content of `path` (relative to `root`, a directory such as a
// container's root on the host or /proc/PID/root) with every link resolved
// as if `root` were /; none when it does not exist. Throws IOError when it
// is not a regular file, is larger than `limit`, or cannot be read. Uses
// openat2(RESOLVE_IN_ROOT), or the same resolution by hand where openat2 is
// not allowed (systemd's RestrictSUIDSGID= filters it) or `useOpenat2` is false.
std::optional<std::string> readFileBeneath(const std::string& root, const std::string& path,
                                           std::size_t limit, bool useOpenat2 = true);

// os-release(5) text as systemd reads it: KEY=VALUE lines, values in
// single or double quotes or bare, '#' comments; malformed lines skipped.
std::map<std::string, std::string> parseOSRelease(std::string_view text);

// The os-release of the container whose init is `leader`: etc/os-release,
// else usr/lib/os-release, beneath /proc/LEADER/root as readFileBeneath reads
// (no link leaves that root; a FIFO, a device or a file over 64 KiB is an
// IOError, never a wait). Empty when the container has neither file.
std::map<std::string, std::string> readOSRelease(pid_t leader);

}  // namespace nixos_containers
