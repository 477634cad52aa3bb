#pragma once

// Network namespaces pinned by a bind mount, as `ip netns add` makes them,
// and netlink sockets bound to them.

#include "netlink.h"

#include <filesystem>
#include <optional>
#include <utility>

namespace nixos_containers::netlink {

// An owned file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
    [[nodiscard]] int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// A namespace and a socket speaking netlink inside it.
struct Namespace {
    Fd fd;
    Socket socket;
};

// Creates a new network namespace pinned at `pin` (parent directories are
// created; the pin must not exist), with its loopback still down.
// Throws std::system_error or netlink::Error; leaves nothing behind then.
Namespace createPinnedNamespace(const std::filesystem::path& pin);

// The namespace pinned at `pin`, or nullopt when nothing is pinned there
// (no file, or a file left by a crash before the bind mount).
std::optional<Namespace> openPinnedNamespace(const std::filesystem::path& pin);

// Unmounts (lazily, MNT_DETACH) and deletes the pin. Idempotent.
// The namespace itself goes away when its last user (nspawn, a socket) does.
void removePinnedNamespace(const std::filesystem::path& pin);

// Writes `value` to the sysctl /proc/sys/net/`name` of the namespace
// `netnsFd` (the network sysctls are per namespace), from a short-lived
// thread as socketIn does. Throws std::system_error.
void writeNetSysctl(int netnsFd, const std::string& name, const std::string& value);

// The calling thread's network namespace.
Fd currentNamespace();

// A socket created inside the namespace `netnsFd`, from a short-lived thread:
// setns(CLONE_NEWNET) changes only the calling thread, and the socket stays
// bound to that namespace after the thread is gone. The caller's own thread
// never switches namespaces.
Socket socketIn(int netnsFd);

}  // namespace nixos_containers::netlink
