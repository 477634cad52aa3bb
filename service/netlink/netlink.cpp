#include "netlink.h"

#include "network_plan.h"

#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <functional>

namespace nixos_containers::netlink {

namespace {

using CbPtr = std::unique_ptr<nl_cb, decltype(&nl_cb_put)>;

// libnl truncates longer names silently (strncpy), so they are refused
// here instead.
constexpr std::size_t kMaxName = kMaxInterfaceName;
static_assert(kMaxName == IFNAMSIZ - 1, "IFNAMSIZ includes the terminating NUL");
// ALTIFNAMSIZ (128) including the NUL.
constexpr std::size_t kMaxAltName = 127;

void check(int rc, const std::string& context) {
    if (rc < 0) {
        throw Error(context, rc);
    }
}

void checkName(const std::string& name) {
    if (name.empty() || name.size() > kMaxName) {
        throw Error("interface name '" + name + "' must be 1 to " + std::to_string(kMaxName) + " bytes",
                    NLE_INVAL);
    }
}

template <typename T, typename Deleter>
std::unique_ptr<T, Deleter> owned(T* pointer, Deleter deleter, const char* what) {
    if (pointer == nullptr) {
        throw Error(std::string("allocating ") + what, NLE_NOMEM);
    }
    return std::unique_ptr<T, Deleter>(pointer, deleter);
}

LinkPtr allocLink() {
    return owned(rtnl_link_alloc(), &rtnl_link_put, "link");
}

std::string attrString(const nlattr* attr) {
    const auto* data = static_cast<const char*>(nla_data(attr));
    return std::string(data, strnlen(data, static_cast<std::size_t>(nla_len(attr))));
}

std::optional<LinkInfo> parseLink(nlmsghdr* header) {
    if (header->nlmsg_type != RTM_NEWLINK) {
        return std::nullopt;
    }
    const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(header));
    LinkInfo link;
    link.index = ifi->ifi_index;
    link.flags = ifi->ifi_flags;
    nlattr* attr = nullptr;
    int remaining = 0;
    nlmsg_for_each_attr(attr, header, sizeof(ifinfomsg), remaining) {
        switch (nla_type(attr)) {
            case IFLA_IFNAME:
                link.name = attrString(attr);
                break;
            case IFLA_MTU:
                link.mtu = nla_get_u32(attr);
                break;
            case IFLA_MASTER:
                link.master = static_cast<int>(nla_get_u32(attr));
                break;
            case IFLA_LINKINFO: {
                nlattr* inner = nullptr;
                int rem = 0;
                nla_for_each_nested(inner, attr, rem) {
                    if (nla_type(inner) == IFLA_INFO_KIND) {
                        link.kind = attrString(inner);
                    }
                }
                break;
            }
            case IFLA_PROP_LIST: {
                nlattr* inner = nullptr;
                int rem = 0;
                nla_for_each_nested(inner, attr, rem) {
                    if (nla_type(inner) == IFLA_ALT_IFNAME) {
                        link.altNames.push_back(attrString(inner));
                    }
                }
                break;
            }
            default:
                break;
        }
    }
    return link;
}

// Sends a request and hands every reply to `onMessage` until the kernel's
// acknowledgement (single requests) or NLMSG_DONE (dumps). libnl's own get
// functions do the same: a GET with NLM_F_ACK is answered by the object AND
// an ack, and an ack left unread would be taken for the next request's.
struct QueryState {
    const std::function<void(nlmsghdr*)>* onMessage;
    bool done = false;
    std::exception_ptr error;
};

int onValid(nl_msg* msg, void* arg) {
    auto* state = static_cast<QueryState*>(arg);
    try {
        (*state->onMessage)(nlmsg_hdr(msg));
    } catch (...) {
        // Keep reading so that the socket stays in step; rethrown afterwards.
        state->error = std::current_exception();
    }
    return NL_OK;
}

int onDone(nl_msg* /*msg*/, void* arg) {
    static_cast<QueryState*>(arg)->done = true;
    return NL_STOP;
}

void query(const Socket& socket, MsgPtr message, const std::function<void(nlmsghdr*)>& onMessage,
           const std::string& context) {
    check(nl_send_auto(socket.get(), message.get()), context);
    CbPtr cb = owned(nl_cb_alloc(NL_CB_DEFAULT), &nl_cb_put, "netlink callbacks");
    QueryState state{&onMessage, false, nullptr};
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, onValid, &state);
    nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, onDone, &state);
    nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, onDone, &state);
    while (!state.done) {
        // Without NLM_F_MULTI, nl_recvmsgs returns after each datagram;
        // an error reply is the acknowledgement and ends the loop by throwing.
        check(nl_recvmsgs(socket.get(), cb.get()), context);
    }
    if (state.error) {
        std::rethrow_exception(state.error);
    }
}

MsgPtr linkRequest(int flags, int index) {
    MsgPtr message = owned(nlmsg_alloc_simple(RTM_GETLINK, flags), &nlmsg_free, "message");
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    check(nlmsg_append(message.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO), "building RTM_GETLINK");
    // Statistics are most of a link message and never used here.
    check(nla_put_u32(message.get(), IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS), "building RTM_GETLINK");
    return message;
}

std::optional<LinkInfo> getLink(const Socket& socket, MsgPtr message, const std::string& context) {
    std::optional<LinkInfo> found;
    try {
        query(
            socket, std::move(message), [&found](nlmsghdr* header) { found = parseLink(header); }, context);
    } catch (const Error& error) {
        // ENODEV, which libnl reports as NLE_OBJ_NOTFOUND.
        if (error.code() == NLE_OBJ_NOTFOUND || error.code() == NLE_NODEV) {
            return std::nullopt;
        }
        throw;
    }
    return found;
}

int indexOf(const Socket& socket, const std::string& name) {
    auto link = findLink(socket, name);
    if (!link) {
        throw Error("looking up '" + name + "' after creating it", NLE_OBJ_NOTFOUND);
    }
    return link->index;
}

}  // namespace

Error::Error(const std::string& context, int code)
    : std::runtime_error(context + ": " + nl_geterror(code)),
      code_(code < 0 ? -code : code),
      text_(nl_geterror(code)) {}

Socket::Socket() : sock_(owned(nl_socket_alloc(), &nl_socket_free, "netlink socket")) {
    check(nl_connect(sock_.get(), NETLINK_ROUTE), "connecting a NETLINK_ROUTE socket");
    // Link dumps can exceed one page; peek sizes the buffer to each datagram.
    nl_socket_enable_msg_peek(sock_.get());
}

IpPrefix IpPrefix::parse(std::string_view text) {
    auto slash = text.find('/');
    std::string address(text.substr(0, slash));
    IpPrefix prefix;
    if (inet_pton(AF_INET, address.c_str(), prefix.bytes.data()) == 1) {
        prefix.family = AF_INET;
        prefix.length = 32;
    } else if (inet_pton(AF_INET6, address.c_str(), prefix.bytes.data()) == 1) {
        prefix.family = AF_INET6;
        prefix.length = 128;
    } else {
        throw std::invalid_argument("'" + std::string(text) + "' is not an IP address");
    }
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        unsigned length = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
            length > prefix.length) {
            throw std::invalid_argument("'" + std::string(text) + "' has an invalid prefix length");
        }
        prefix.length = length;
    }
    return prefix;
}

IpPrefix IpPrefix::fromNl(const nl_addr* address) {
    IpPrefix prefix;
    prefix.family = nl_addr_get_family(address);
    auto size = std::min<std::size_t>(nl_addr_get_len(address), prefix.bytes.size());
    std::memcpy(prefix.bytes.data(), nl_addr_get_binary_addr(address), size);
    prefix.length = nl_addr_get_prefixlen(address);
    return prefix;
}

IpPrefix IpPrefix::host() const {
    IpPrefix copy = *this;
    copy.length = family == AF_INET ? 32 : 128;
    return copy;
}

std::string IpPrefix::address() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes.data(), buffer, sizeof buffer);
    return buffer;
}

std::string IpPrefix::str() const {
    return address() + "/" + std::to_string(length);
}

NlAddrPtr IpPrefix::toNl() const {
    auto address =
        owned(nl_addr_build(family, bytes.data(), family == AF_INET ? 4 : 16), &nl_addr_put, "address");
    nl_addr_set_prefixlen(address.get(), static_cast<int>(length));
    return address;
}

bool LinkInfo::up() const {
    return (flags & IFF_UP) != 0;
}

bool LinkInfo::hasAltName(std::string_view altName) const {
    return std::find(altNames.begin(), altNames.end(), altName) != altNames.end();
}

std::optional<LinkInfo> findLink(const Socket& socket, int index) {
    return getLink(socket, linkRequest(0, index), "looking up link " + std::to_string(index));
}

std::optional<LinkInfo> findLink(const Socket& socket, const std::string& nameOrAltName) {
    if (nameOrAltName.empty() || nameOrAltName.size() > kMaxAltName) {
        return std::nullopt;
    }
    MsgPtr message = linkRequest(0, 0);
    // IFLA_IFNAME is limited to IFNAMSIZ by the kernel's policy; the kernel
    // resolves either attribute against names and altnames alike.
    int type = nameOrAltName.size() > kMaxName ? IFLA_ALT_IFNAME : IFLA_IFNAME;
    check(nla_put_string(message.get(), type, nameOrAltName.c_str()), "building RTM_GETLINK");
    return getLink(socket, std::move(message), "looking up link '" + nameOrAltName + "'");
}

std::vector<LinkInfo> listLinks(const Socket& socket) {
    std::vector<LinkInfo> links;
    query(
        socket, linkRequest(NLM_F_DUMP, 0),
        [&links](nlmsghdr* header) {
            if (auto link = parseLink(header)) {
                links.push_back(std::move(*link));
            }
        },
        "listing links");
    return links;
}

std::vector<AddressInfo> listAddresses(const Socket& socket) {
    nl_cache* raw = nullptr;
    check(rtnl_addr_alloc_cache(socket.get(), &raw), "listing addresses");
    CachePtr cache(raw, &nl_cache_free);
    std::vector<AddressInfo> addresses;
    for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr;
         object = nl_cache_get_next(object)) {
        auto* address = reinterpret_cast<rtnl_addr*>(object);
        const nl_addr* local = rtnl_addr_get_local(address);
        if (local == nullptr) {
            continue;
        }
        AddressInfo info;
        info.index = rtnl_addr_get_ifindex(address);
        info.address = IpPrefix::fromNl(local);
        info.address.length = static_cast<unsigned>(rtnl_addr_get_prefixlen(address));
        addresses.push_back(info);
    }
    return addresses;
}

std::vector<RouteInfo> listRoutes(const Socket& socket) {
    nl_cache* raw = nullptr;
    check(rtnl_route_alloc_cache(socket.get(), AF_UNSPEC, 0, &raw), "listing routes");
    CachePtr cache(raw, &nl_cache_free);
    std::vector<RouteInfo> routes;
    for (nl_object* object = nl_cache_get_first(cache.get()); object != nullptr;
         object = nl_cache_get_next(object)) {
        auto* route = reinterpret_cast<rtnl_route*>(object);
        if (rtnl_route_get_table(route) != RT_TABLE_MAIN) {
            continue;
        }
        RouteInfo info;
        const nl_addr* destination = rtnl_route_get_dst(route);
        if (destination != nullptr && nl_addr_get_len(destination) > 0) {
            info.destination = IpPrefix::fromNl(destination);
        } else {
            info.destination.family = rtnl_route_get_family(route);  // default route
        }
        if (rtnl_route_get_nnexthops(route) > 0) {
            rtnl_nexthop* nexthop = rtnl_route_nexthop_n(route, 0);
            info.index = rtnl_route_nh_get_ifindex(nexthop);
            if (const nl_addr* gateway = rtnl_route_nh_get_gateway(nexthop)) {
                info.gateway = IpPrefix::fromNl(gateway).host();
            }
        }
        routes.push_back(info);
    }
    return routes;
}

int createVeth(const Socket& socket, const std::string& name, const std::string& peerName, int peerNetnsFd,
               const std::string& peerMac) {
    checkName(name);
    checkName(peerName);
    LinkPtr link = owned(rtnl_link_veth_alloc(), &rtnl_link_put, "veth");
    rtnl_link_set_name(link.get(), name.c_str());
    {
        // rtnl_link_veth_get_peer takes a reference; the link owns the peer.
        LinkPtr peer(rtnl_link_veth_get_peer(link.get()), &rtnl_link_put);
        rtnl_link_set_name(peer.get(), peerName.c_str());
        if (!peerMac.empty()) {
            nl_addr* parsed = nullptr;
            check(nl_addr_parse(peerMac.c_str(), AF_LLC, &parsed), "parsing MAC address '" + peerMac + "'");
            std::unique_ptr<nl_addr, decltype(&nl_addr_put)> mac(parsed, &nl_addr_put);
            rtnl_link_set_addr(peer.get(), mac.get());
        }
        if (peerNetnsFd >= 0) {
            // Created right in the container's namespace: no window in which
            // the container end sits in the host's namespace under its name.
            rtnl_link_set_ns_fd(peer.get(), peerNetnsFd);
        }
    }
    check(rtnl_link_add(socket.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
          "creating veth pair '" + name + "'/'" + peerName + "'");
    return indexOf(socket, name);
}

void createMacvlan(const Socket& socket, const std::string& name, int parentIndex, int netnsFd) {
    checkName(name);
    LinkPtr link = owned(rtnl_link_macvlan_alloc(), &rtnl_link_put, "macvlan");
    rtnl_link_set_name(link.get(), name.c_str());
    rtnl_link_set_link(link.get(), parentIndex);
    // nspawn's --network-macvlan uses bridge mode, so the module's users expect it.
    check(rtnl_link_macvlan_set_mode(link.get(), MACVLAN_MODE_BRIDGE), "building macvlan");
    if (netnsFd >= 0) {
        rtnl_link_set_ns_fd(link.get(), netnsFd);
    }
    check(rtnl_link_add(socket.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
          "creating macvlan '" + name + "'");
}

int createLink(const Socket& socket, const std::string& name, const std::string& kind) {
    checkName(name);
    LinkPtr link = allocLink();
    rtnl_link_set_name(link.get(), name.c_str());
    check(rtnl_link_set_type(link.get(), kind.c_str()), "building " + kind);
    check(rtnl_link_add(socket.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
          "creating " + kind + " '" + name + "'");
    return indexOf(socket, name);
}

void changeLink(const Socket& socket, int index, const LinkChange& change) {
    LinkPtr original = allocLink();
    rtnl_link_set_ifindex(original.get(), index);
    LinkPtr changes = allocLink();
    if (change.name) {
        checkName(*change.name);
        rtnl_link_set_name(changes.get(), change.name->c_str());
    }
    if (change.up) {
        rtnl_link_set_flags(changes.get(), IFF_UP);
    }
    if (change.mtu) {
        rtnl_link_set_mtu(changes.get(), *change.mtu);
    }
    if (change.master) {
        rtnl_link_set_master(changes.get(), *change.master);
    }
    if (change.netnsFd) {
        rtnl_link_set_ns_fd(changes.get(), *change.netnsFd);
    }
    check(rtnl_link_change(socket.get(), original.get(), changes.get(), 0),
          "changing link " + std::to_string(index));
}

void deleteLink(const Socket& socket, int index) {
    LinkPtr link = allocLink();
    rtnl_link_set_ifindex(link.get(), index);
    check(rtnl_link_delete(socket.get(), link.get()), "deleting link " + std::to_string(index));
}

void addAltName(const Socket& socket, int index, const std::string& altName) {
    if (altName.empty() || altName.size() > kMaxAltName) {
        throw Error("altname '" + altName + "' must be 1 to 127 bytes", NLE_INVAL);
    }
    const std::string context = "adding altname '" + altName + "'";
    // What `ip link property add dev X altname Y` sends.
    MsgPtr message =
        owned(nlmsg_alloc_simple(RTM_NEWLINKPROP, NLM_F_CREATE | NLM_F_EXCL), &nlmsg_free, "message");
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    check(nlmsg_append(message.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO), context);
    nlattr* list = nla_nest_start(message.get(), IFLA_PROP_LIST | NLA_F_NESTED);
    if (list == nullptr) {
        throw Error(context, NLE_MSGSIZE);
    }
    check(nla_put_string(message.get(), IFLA_ALT_IFNAME, altName.c_str()), context);
    nla_nest_end(message.get(), list);
    // nl_send_sync frees the message whatever happens.
    check(nl_send_sync(socket.get(), message.release()), context);
}

void addAddress(const Socket& socket, int index, const IpPrefix& address) {
    AddrPtr request = owned(rtnl_addr_alloc(), &rtnl_addr_put, "address");
    rtnl_addr_set_ifindex(request.get(), index);
    rtnl_addr_set_family(request.get(), address.family);
    NlAddrPtr local = address.toNl();
    check(rtnl_addr_set_local(request.get(), local.get()), "building address");
    rtnl_addr_set_prefixlen(request.get(), static_cast<int>(address.length));
    if (address.family == AF_INET6) {
        // Without this the address stays "tentative" for about a second and
        // cannot be used, so the container's init would start without it.
        rtnl_addr_set_flags(request.get(), IFA_F_NODAD);
    }
    check(rtnl_addr_add(socket.get(), request.get(), NLM_F_EXCL),
          "adding address " + address.str() + " to link " + std::to_string(index));
}

void addRoute(const Socket& socket, int index, const IpPrefix& destination,
              const std::optional<IpPrefix>& gateway) {
    RoutePtr route = owned(rtnl_route_alloc(), &rtnl_route_put, "route");
    rtnl_route_set_family(route.get(), static_cast<uint8_t>(destination.family));
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
    rtnl_route_set_type(route.get(), RTN_UNICAST);
    // ip(8)'s choice: link scope for a device route, universe otherwise and for IPv6.
    rtnl_route_set_scope(route.get(),
                         destination.family == AF_INET && !gateway ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
    NlAddrPtr dst = destination.toNl();
    check(rtnl_route_set_dst(route.get(), dst.get()), "building route");
    rtnl_nexthop* nexthop = rtnl_route_nh_alloc();
    if (nexthop == nullptr) {
        throw Error("allocating nexthop", NLE_NOMEM);
    }
    rtnl_route_nh_set_ifindex(nexthop, index);
    if (gateway) {
        NlAddrPtr via = gateway->host().toNl();
        rtnl_route_nh_set_gateway(nexthop, via.get());
    }
    // The route owns the nexthop from here on.
    rtnl_route_add_nexthop(route.get(), nexthop);
    std::string context = "adding route " + destination.str() +
                          (gateway ? " via " + gateway->address() : "") + " dev " + std::to_string(index);
    check(rtnl_route_add(socket.get(), route.get(), NLM_F_EXCL), context);
}

}  // namespace nixos_containers::netlink
