#include "bind_pin_mounts.h"

#include "errors.h"
#include "unique_fd.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void refuse(const BindPin& pin, const std::string& why) {
    throw ContainerError(ErrorCode::StartFailed,
                         "BindMounts host path '" + pin.hostPath.string() + "' " + why);
}

// The bind's host path, opened beneath its confined root without following
// any link there: the object nspawn will bind, whatever is renamed later.
UniqueFd openPinned(const BindPin& pin) {
    UniqueFd current(::open(pin.confinedRoot.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (current.get() < 0) {
        refuse(pin, "cannot be reached: its confined root " + pin.confinedRoot.string() + ": " +
                        std::strerror(errno));
    }
    fs::path walked = pin.confinedRoot;
    for (const auto& part : pin.beneath) {
        if (part == "." || part.empty()) {
            continue;
        }
        walked /= part;
        UniqueFd next(::openat(current.get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (next.get() < 0) {
            refuse(pin, errno == ENOENT
                            ? "does not exist on the host"
                            : "cannot be opened at " + walked.string() + ": " + std::strerror(errno));
        }
        struct stat status {};
        if (::fstat(next.get(), &status) != 0) {
            refuse(pin, "cannot be examined: " + std::string(std::strerror(errno)));
        }
        if (S_ISLNK(status.st_mode)) {
            refuse(pin, "is reached through the link " + walked.string() + " beneath the confined root " +
                            pin.confinedRoot.string() +
                            "; links there are not followed: bind the link's target itself");
        }
        current = std::move(next);
    }
    return current;
}

void mountPin(const BindPin& pin, const UniqueFd& source) {
    struct stat status {};
    if (::fstat(source.get(), &status) != 0) {
        refuse(pin, "cannot be examined: " + std::string(std::strerror(errno)));
    }
    // The mount point has the source's kind: a directory, or a file for
    // anything else.
    const int made = S_ISDIR(status.st_mode) ? ::mkdir(pin.pin.c_str(), 0700) : [&pin] {
        UniqueFd file(::open(pin.pin.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        return file.get() < 0 ? -1 : 0;
    }();
    if (made != 0) {
        refuse(pin, "cannot be pinned at " + pin.pin.string() + ": " + std::strerror(errno));
    }
    const auto fdPath = "/proc/self/fd/" + std::to_string(source.get());
    if (::mount(fdPath.c_str(), pin.pin.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
        refuse(pin, "cannot be bound at " + pin.pin.string() + ": " + std::strerror(errno));
    }
    if (::mount(nullptr, pin.pin.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
        refuse(pin, "cannot be made read-only at " + pin.pin.string() + ": " + std::strerror(errno));
    }
}

}  // namespace

void BindPinMounts::pin(const fs::path& directory, const std::vector<BindPin>& pins) {
    unpin(directory);  // what a crashed run left
    try {
        std::error_code error;
        fs::create_directories(directory.parent_path(), error);
        if (error || (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST)) {
            throw ContainerError(ErrorCode::StartFailed,
                                 "cannot make " + directory.string() + ": " +
                                     (error ? error.message() : std::string(std::strerror(errno))));
        }
        // Only root may look below it: a pin is a view of a tenant's tree.
        ::chmod(directory.parent_path().c_str(), 0700);
        for (const auto& pin : pins) {
            mountPin(pin, openPinned(pin));
        }
    } catch (...) {
        unpin(directory);
        throw;
    }
}

void BindPinMounts::unpin(const fs::path& directory) {
    std::error_code error;
    if (!fs::is_directory(fs::symlink_status(directory, error))) {
        return;
    }
    for (const auto& entry : fs::directory_iterator(directory, error)) {
        // Detached: a process still inside the old container must not keep
        // the pin from going. EINVAL: not a mount (a pin that failed).
        while (::umount2(entry.path().c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
        }
        fs::remove(entry.path(), error);
    }
    fs::remove(directory, error);
}

}  // namespace nixos_containers
