#include "container_users.h"

#include "errors.h"
#include "unique_fd.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace nixos_containers {

namespace {

// The colon-separated fields of one line.
std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    for (;;) {
        auto colon = line.find(':');
        out.push_back(line.substr(0, colon));
        if (colon == std::string_view::npos) {
            return out;
        }
        line.remove_prefix(colon + 1);
    }
}

template <typename Visit>
void eachLine(std::string_view text, Visit visit) {
    while (!text.empty()) {
        auto newline = text.find('\n');
        auto line = text.substr(0, newline);
        if (!line.empty() && line.front() != '#' && !visit(line)) {
            return;
        }
        if (newline == std::string_view::npos) {
            return;
        }
        text.remove_prefix(newline + 1);
    }
}

template <typename Id>
std::optional<Id> number(std::string_view text) {
    Id value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

std::vector<std::string> splitPath(std::string_view path) {
    std::vector<std::string> parts;
    while (!path.empty()) {
        auto slash = path.find('/');
        auto part = path.substr(0, slash);
        if (!part.empty() && part != ".") {
            parts.emplace_back(part);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return parts;
}

// openat2's RESOLVE_IN_ROOT by hand, one component at a time, for where
// openat2 is filtered (systemd's RestrictSUIDSGID= makes it ENOSYS): every
// link is read and resolved against `rootFd`, ".." never climbs above it.
// Returns the open file, or -1 with errno set.
int openBeneathByHand(int rootFd, const std::string& path, int flags) {
    std::vector<UniqueFd> stack;  // the directories below the root walked so far
    auto current = [&] { return stack.empty() ? rootFd : stack.back().get(); };
    auto pending = splitPath(path);
    std::reverse(pending.begin(), pending.end());
    int links = 0;
    while (!pending.empty()) {
        auto part = std::move(pending.back());
        pending.pop_back();
        if (part == "..") {
            if (!stack.empty()) {
                stack.pop_back();
            }
            continue;
        }
        UniqueFd next(::openat(current(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (next.get() < 0) {
            return -1;
        }
        struct stat status {};
        if (::fstat(next.get(), &status) != 0) {
            return -1;
        }
        if (S_ISLNK(status.st_mode)) {
            if (++links > 40) {
                errno = ELOOP;
                return -1;
            }
            char target[4096];
            auto size = ::readlinkat(next.get(), "", target, sizeof(target) - 1);
            if (size < 0) {
                return -1;
            }
            std::string_view link(target, static_cast<std::size_t>(size));
            if (!link.empty() && link.front() == '/') {
                stack.clear();
            }
            auto parts = splitPath(link);
            for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
                pending.push_back(*it);
            }
            continue;
        }
        if (pending.empty()) {
            // The last component, known not to be a link: opened for real.
            return ::openat(current(), part.c_str(), flags | O_NOFOLLOW);
        }
        if (!S_ISDIR(status.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
        stack.push_back(std::move(next));
    }
    errno = EISDIR;
    return -1;
}

}  // namespace

std::optional<PasswdEntry> findUser(std::string_view passwd, std::string_view user) {
    auto wantedUid = number<uid_t>(user);
    std::optional<PasswdEntry> found;
    eachLine(passwd, [&](std::string_view line) {
        auto f = fields(line);
        if (f.size() < 7) {
            return true;
        }
        auto uid = number<uid_t>(f[2]);
        auto gid = number<gid_t>(f[3]);
        if (!uid || !gid) {
            return true;
        }
        if (f[0] == user || (wantedUid && *wantedUid == *uid)) {
            found = PasswdEntry{std::string(f[0]), *uid, *gid, std::string(f[5]), std::string(f[6])};
            return false;
        }
        return true;
    });
    return found;
}

std::vector<gid_t> supplementaryGroups(std::string_view group, std::string_view user, gid_t primary) {
    std::vector<gid_t> gids;
    eachLine(group, [&](std::string_view line) {
        auto f = fields(line);
        auto gid = f.size() >= 4 ? number<gid_t>(f[2]) : std::nullopt;
        if (!gid || *gid == primary) {
            return true;
        }
        std::string_view members = f[3];
        while (!members.empty()) {
            auto comma = members.find(',');
            if (members.substr(0, comma) == user) {
                gids.push_back(*gid);
                break;
            }
            if (comma == std::string_view::npos) {
                break;
            }
            members.remove_prefix(comma + 1);
        }
        return true;
    });
    return gids;
}

std::optional<std::string> readFileBeneath(const std::string& root, const std::string& path,
                                           std::size_t limit, bool useOpenat2) {
    UniqueFd rootFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (rootFd.get() < 0) {
        throw ContainerError(ErrorCode::IOError, "cannot open " + root + ": " + std::strerror(errno));
    }
    open_how how{};
    // O_NONBLOCK: a FIFO planted there must not hang the reader.
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    UniqueFd fd(useOpenat2
                    ? static_cast<int>(::syscall(SYS_openat2, rootFd.get(), path.c_str(), &how, sizeof(how)))
                    : -1);
    if (!useOpenat2 || (fd.get() < 0 && (errno == ENOSYS || errno == EPERM))) {
        fd.reset(openBeneathByHand(rootFd.get(), path, static_cast<int>(how.flags)));
    }
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return std::nullopt;
        }
        throw ContainerError(ErrorCode::IOError,
                             "cannot open " + path + " in " + root + ": " + std::strerror(errno));
    }
    struct stat status {};
    if (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
        throw ContainerError(ErrorCode::IOError, path + " in " + root + " is not a regular file");
    }
    if (static_cast<std::size_t>(status.st_size) > limit) {
        throw ContainerError(ErrorCode::IOError,
                             path + " in " + root + " is larger than " + std::to_string(limit) + " bytes");
    }
    std::string text;
    char buffer[8192];
    for (;;) {
        auto count = ::read(fd.get(), buffer, sizeof(buffer));
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count < 0) {
            throw ContainerError(ErrorCode::IOError,
                                 "cannot read " + path + " in " + root + ": " + std::strerror(errno));
        }
        if (count == 0) {
            return text;
        }
        text.append(buffer, static_cast<std::size_t>(count));
        if (text.size() > limit) {
            throw ContainerError(ErrorCode::IOError, path + " in " + root + " is larger than " +
                                                         std::to_string(limit) + " bytes");
        }
    }
}

std::map<std::string, std::string> parseOSRelease(std::string_view text) {
    std::map<std::string, std::string> fields;
    eachLine(text, [&fields](std::string_view line) {
        while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            line.remove_prefix(1);
        }
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
            line.remove_suffix(1);
        }
        const auto equals = line.find('=');
        if (line.empty() || line.front() == '#' || equals == std::string_view::npos || equals == 0) {
            return true;
        }
        const auto key = line.substr(0, equals);
        const bool keyValid = std::all_of(key.begin(), key.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        });
        if (!keyValid) {
            return true;
        }
        auto raw = line.substr(equals + 1);
        std::string value;
        if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
            const char quote = raw.front();
            if (raw.size() < 2 || raw.back() != quote) {
                return true;  // an unterminated quote: not a value
            }
            raw = raw.substr(1, raw.size() - 2);
            for (std::size_t i = 0; i < raw.size(); ++i) {
                // Within double quotes a backslash escapes the next byte.
                if (quote == '"' && raw[i] == '\\' && i + 1 < raw.size()) {
                    ++i;
                }
                value += raw[i];
            }
        } else {
            value = std::string(raw);
        }
        fields[std::string(key)] = std::move(value);
        return true;
    });
    return fields;
}

std::map<std::string, std::string> readOSRelease(pid_t leader) {
    constexpr std::size_t kMaxOSRelease = std::size_t{64} * 1024;
    const auto root = "/proc/" + std::to_string(leader) + "/root";
    for (const char* path : {"etc/os-release", "usr/lib/os-release"}) {
        if (auto text = readFileBeneath(root, path, kMaxOSRelease)) {
            return parseOSRelease(*text);
        }
    }
    return {};
}

}  // namespace nixos_containers
