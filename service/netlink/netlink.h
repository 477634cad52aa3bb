#pragma once

// A small C++ layer over libnl-3 / libnl-route-3: RAII handles, exceptions
// carrying libnl's error text, and the handful of rtnetlink operations the
// service needs to build a container's network. Nothing here runs ip(8).
//
// Error convention: failures reported by the kernel or libnl throw
// netlink::Error carrying a positive NLE_* code and nl_geterror() text;
// failures of plain system calls (setns, mount, ...) throw std::system_error
// with errno. The two code spaces are never mixed.

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <array>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nixos_containers::netlink {

using SocketPtr = std::unique_ptr<nl_sock, decltype(&nl_socket_free)>;
using LinkPtr = std::unique_ptr<rtnl_link, decltype(&rtnl_link_put)>;
using AddrPtr = std::unique_ptr<rtnl_addr, decltype(&rtnl_addr_put)>;
using RoutePtr = std::unique_ptr<rtnl_route, decltype(&rtnl_route_put)>;
using NlAddrPtr = std::unique_ptr<nl_addr, decltype(&nl_addr_put)>;
using CachePtr = std::unique_ptr<nl_cache, decltype(&nl_cache_free)>;
using MsgPtr = std::unique_ptr<nl_msg, decltype(&nlmsg_free)>;

class Error : public std::runtime_error {
public:
    // `code` is a libnl error code, either sign (libnl returns -NLE_*).
    Error(const std::string& context, int code);
    // The positive NLE_* code, e.g. NLE_EXIST.
    [[nodiscard]] int code() const { return code_; }
    // nl_geterror() text alone, without the context.
    [[nodiscard]] const std::string& text() const { return text_; }

private:
    int code_;
    std::string text_;
};

// A NETLINK_ROUTE socket. Netlink sockets stay bound to the network namespace
// they were created in, whatever the thread using them later does; that is
// what makes namespace::socketIn() work.
class Socket {
public:
    // A socket in the calling thread's network namespace.
    Socket();
    [[nodiscard]] nl_sock* get() const { return sock_.get(); }

private:
    SocketPtr sock_;
};

// An IPv4 or IPv6 address with a prefix length.
struct IpPrefix {
    int family = 0;  // AF_INET or AF_INET6
    std::array<unsigned char, 16> bytes{};
    unsigned length = 0;

    // "A" (a host prefix: /32 or /128) or "A/N". Throws std::invalid_argument.
    static IpPrefix parse(std::string_view text);
    static IpPrefix fromNl(const nl_addr* address);
    [[nodiscard]] IpPrefix host() const;        // the same address as a host prefix
    [[nodiscard]] std::string address() const;  // without the prefix
    [[nodiscard]] std::string str() const;      // "A/N"
    [[nodiscard]] NlAddrPtr toNl() const;
    bool operator==(const IpPrefix&) const = default;
};

struct LinkInfo {
    int index = 0;
    std::string name;
    std::vector<std::string> altNames;
    std::string kind;  // IFLA_INFO_KIND: "veth", "bridge", "macvlan"; empty for lo/physical
    unsigned flags = 0;
    unsigned mtu = 0;
    int master = 0;
    [[nodiscard]] bool up() const;
    [[nodiscard]] bool hasAltName(std::string_view altName) const;
};

struct AddressInfo {
    int index = 0;
    IpPrefix address;
};

struct RouteInfo {
    IpPrefix destination;
    std::optional<IpPrefix> gateway;
    int index = 0;  // the first nexthop's device, 0 when none
};

// Changes to one link, applied in a single request.
struct LinkChange {
    std::optional<std::string> name{};
    bool up = false;
    std::optional<unsigned> mtu{};
    std::optional<int> master{};   // ifindex of a bridge
    std::optional<int> netnsFd{};  // move the link into this namespace
};

// Lookups. A name is matched against names and altnames (the kernel resolves
// both); callers verify which one matched. nullopt when no such link.
std::optional<LinkInfo> findLink(const Socket& socket, int index);
std::optional<LinkInfo> findLink(const Socket& socket, const std::string& nameOrAltName);
std::vector<LinkInfo> listLinks(const Socket& socket);
std::vector<AddressInfo> listAddresses(const Socket& socket);
// Routes of the main table, both families.
std::vector<RouteInfo> listRoutes(const Socket& socket);

// Creates a veth pair; the peer is created directly in the namespace `peerNetnsFd`
// (or next to its twin when < 0). Returns the ifindex of the first end.
// `peerMac` ("02:00:00:00:00:01"), when not empty, is the peer's address.
int createVeth(const Socket& socket, const std::string& name, const std::string& peerName,
               int peerNetnsFd = -1, const std::string& peerMac = "");
// Creates a bridge-mode macvlan on `parentIndex`, directly in `netnsFd` when >= 0.
void createMacvlan(const Socket& socket, const std::string& name, int parentIndex, int netnsFd = -1);
// Creates a link of a simple kind ("dummy", "bridge"); returns its ifindex.
int createLink(const Socket& socket, const std::string& name, const std::string& kind);

void changeLink(const Socket& socket, int index, const LinkChange& change);
inline void setUp(const Socket& socket, int index) {
    changeLink(socket, index, {.up = true});
}
inline void setName(const Socket& socket, int index, const std::string& name) {
    changeLink(socket, index, {.name = name});
}
inline void setMtu(const Socket& socket, int index, unsigned mtu) {
    changeLink(socket, index, {.mtu = mtu});
}
inline void enslave(const Socket& socket, int index, int bridgeIndex) {
    changeLink(socket, index, {.master = bridgeIndex});
}
inline void moveToNamespace(const Socket& socket, int index, int netnsFd) {
    changeLink(socket, index, {.netnsFd = netnsFd});
}
void deleteLink(const Socket& socket, int index);
// libnl 3.7 has no API for altnames: RTM_NEWLINKPROP built by hand.
void addAltName(const Socket& socket, int index, const std::string& altName);

// Adds `address` (prefix included) to the link. IPv6 addresses skip duplicate
// address detection: they must be usable at once, and both ends are ours.
void addAddress(const Socket& socket, int index, const IpPrefix& address);
// A route to `destination` through the link, via `gateway` when given
// (scope link without one, as `ip route add D dev X` does).
void addRoute(const Socket& socket, int index, const IpPrefix& destination,
              const std::optional<IpPrefix>& gateway = std::nullopt);

}  // namespace nixos_containers::netlink
