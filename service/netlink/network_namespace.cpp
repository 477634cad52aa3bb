#include "network_namespace.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

namespace nixos_containers::netlink {

namespace {

[[noreturn]] void throwErrno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Runs `work` on a fresh thread and returns its result. Namespace switches
// (setns, unshare) made there die with the thread, so the service's own
// threads never leave the host's network namespace.
template <typename Work>
auto inThread(Work work) -> decltype(work()) {
    std::optional<decltype(work())> result;
    std::exception_ptr error;
    std::thread thread([&] {
        try {
            result.emplace(work());
        } catch (...) {
            error = std::current_exception();
        }
    });
    thread.join();
    if (error) {
        std::rethrow_exception(error);
    }
    return std::move(*result);
}

Fd openThreadNamespace() {
    Fd fd(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throwErrno("opening /proc/thread-self/ns/net");
    }
    return fd;
}

// What `ip netns add` does to /run/netns: make the pins' directory a shared
// mount, so that removing a pin also removes the copies that mount
// namespaces created later (nspawn's, for one) hold of it, instead of those
// copies keeping the namespace alive.
void makeShared(const std::filesystem::path& directory) {
    // Two prepare() calls at once must not both bind the directory onto itself.
    static std::mutex mutex;
    std::lock_guard lock(mutex);
    bool boundOntoItself = false;
    while (mount("", directory.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
        if (errno != EINVAL || boundOntoItself) {
            throwErrno("making " + directory.string() + " a shared mount");
        }
        // EINVAL: not a mount point yet.
        if (mount(directory.c_str(), directory.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
            throwErrno("bind-mounting " + directory.string() + " onto itself");
        }
        boundOntoItself = true;
    }
}

}  // namespace

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

Fd::~Fd() {
    if (fd_ >= 0) {
        close(fd_);
    }
}

Namespace createPinnedNamespace(const std::filesystem::path& pin) {
    std::filesystem::create_directories(pin.parent_path());
    makeShared(pin.parent_path());
    {
        Fd file(open(pin.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444));
        if (!file) {
            throwErrno("creating namespace pin " + pin.string());
        }
    }
    try {
        return inThread([&pin] {
            if (unshare(CLONE_NEWNET) != 0) {
                throwErrno("creating a network namespace");
            }
            if (mount("/proc/thread-self/ns/net", pin.c_str(), "none", MS_BIND, nullptr) != 0) {
                throwErrno("bind-mounting the network namespace onto " + pin.string());
            }
            Fd fd = openThreadNamespace();
            return Namespace{std::move(fd), Socket()};
        });
    } catch (...) {
        try {
            removePinnedNamespace(pin);
        } catch (...) {
            // The original error is the one worth reporting.
        }
        throw;
    }
}

std::optional<Namespace> openPinnedNamespace(const std::filesystem::path& pin) {
    Fd fd(open(pin.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) {
            return std::nullopt;
        }
        throwErrno("opening namespace pin " + pin.string());
    }
    struct statfs fs {};
    if (fstatfs(fd.get(), &fs) != 0) {
        throwErrno("inspecting namespace pin " + pin.string());
    }
    if (fs.f_type != NSFS_MAGIC) {
        // The pin file exists but nothing is mounted on it: a crash between
        // creating the file and the bind mount.
        return std::nullopt;
    }
    Socket socket = socketIn(fd.get());
    return Namespace{std::move(fd), std::move(socket)};
}

void removePinnedNamespace(const std::filesystem::path& pin) {
    if (umount2(pin.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
        throwErrno("unmounting namespace pin " + pin.string());
    }
    if (unlink(pin.c_str()) != 0 && errno != ENOENT) {
        throwErrno("deleting namespace pin " + pin.string());
    }
}

Fd currentNamespace() {
    return openThreadNamespace();
}

void writeNetSysctl(int netnsFd, const std::string& name, const std::string& value) {
    inThread([netnsFd, &name, &value] {
        if (setns(netnsFd, CLONE_NEWNET) != 0) {
            throwErrno("entering a network namespace");
        }
        // /proc/sys/net shows the namespace of the thread that opens it.
        const std::string path = "/proc/sys/net/" + name;
        Fd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) {
            throwErrno("opening " + path);
        }
        if (write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
            throwErrno("writing " + path);
        }
        return true;
    });
}

Socket socketIn(int netnsFd) {
    return inThread([netnsFd] {
        if (setns(netnsFd, CLONE_NEWNET) != 0) {
            throwErrno("entering a network namespace");
        }
        return Socket();
    });
}

}  // namespace nixos_containers::netlink
