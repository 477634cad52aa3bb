#include "netlink_container_network.h"

#include "errors.h"
#include "netlink.h"
#include "network_namespace.h"
#include "network_plan.h"

#include <netlink/errno.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace nixos_containers {

namespace {

using netlink::IpPrefix;

// One veth of the plan with its addresses parsed.
struct ParsedVeth {
    const VethPlan* plan = nullptr;
    bool main = false;  // only the main veth gets a default route (the module's semantics)
    std::optional<IpPrefix> hostAddress, localAddress, hostAddress6, localAddress6;
    int bridgeIndex = 0;
};

std::optional<IpPrefix> parseAddress(const std::string& text, const std::string& owner) {
    if (text.empty()) {
        return std::nullopt;
    }
    try {
        return IpPrefix::parse(text);
    } catch (const std::invalid_argument& error) {
        throwInvalid(owner + ": " + error.what());
    }
}

void checkInterfaceName(const std::string& name, const std::string& what) {
    if (name.empty() || name.size() > kMaxInterfaceName) {
        throwInvalid(what + " '" + name + "' must be 1 to " + std::to_string(kMaxInterfaceName) + " bytes");
    }
}

[[noreturn]] void fail(const std::string& message) {
    throw ContainerError(ErrorCode::NetworkSetupFailed, message);
}

// Undo steps of a prepare() in progress, run newest first on failure.
class Rollback {
public:
    void add(std::function<void()> undo) { steps_.push_back(std::move(undo)); }
    void run() noexcept {
        for (auto step = steps_.rbegin(); step != steps_.rend(); ++step) {
            try {
                (*step)();
            } catch (...) {
                // Best effort: the remaining steps (finally the namespace
                // pin) still run, and release() before the next prepare()
                // catches what is left.
            }
        }
        steps_.clear();
    }

private:
    std::vector<std::function<void()>> steps_;
};

// The host end of a planned veth, when it exists and is provably ours:
// found by its altname, or, for the main veth of a short container name
// (whose host name IS "ve-NAME", the module's own convention), by that name.
// An extra veth's host end is named after a key the user chose and carries no
// altname, so a link of that name may well be somebody else's: it is never
// deleted by name. It does not need to be: while its container end exists,
// deleting that end (inside the namespace) removes it, and once the
// namespace is gone the pair is gone too.
std::optional<netlink::LinkInfo> findHostEnd(const netlink::Socket& host, const VethPlan& veth, bool main) {
    if (veth.hostAltName.empty() && !main) {
        return std::nullopt;
    }
    const std::string& key = veth.hostAltName.empty() ? veth.hostName : veth.hostAltName;
    auto link = netlink::findLink(host, key);
    if (!link || link->kind != "veth") {
        return std::nullopt;
    }
    // A link found under the planned host name is ours only if it also
    // carries the planned altname: the derived name can collide.
    if (!veth.hostAltName.empty() ? !link->hasAltName(veth.hostAltName) : link->name != veth.hostName) {
        return std::nullopt;
    }
    return link;
}

// Everything that can be known from the plan alone, checked before
// anything is created: InvalidArgument, no side effects.
std::vector<ParsedVeth> parseVeths(const NetworkPlan& plan) {
    std::vector<ParsedVeth> veths;
    auto parseVeth = [&veths](const VethPlan& veth, bool main) {
        checkInterfaceName(veth.hostName, "host interface name");
        checkInterfaceName(veth.containerName, "container interface name");
        const std::string owner = "veth '" + veth.hostName + "'";
        ParsedVeth parsed;
        parsed.plan = &veth;
        parsed.main = main;
        parsed.hostAddress = parseAddress(veth.options.hostAddress, owner);
        parsed.localAddress = parseAddress(veth.options.localAddress, owner);
        parsed.hostAddress6 = parseAddress(veth.options.hostAddress6, owner);
        parsed.localAddress6 = parseAddress(veth.options.localAddress6, owner);
        veths.push_back(parsed);
    };
    if (plan.mainVeth) {
        parseVeth(*plan.mainVeth, true);
    }
    for (const auto& veth : plan.extraVeths) {
        parseVeth(veth, false);
    }
    for (const auto& parent : plan.macvlanParents) {
        checkInterfaceName(macvlanName(parent), "macvlan name");
    }
    return veths;
}

// The kernel accepts one address on several links, which would silently
// break routing: a host address already on the host, or planned twice, is
// refused here.
void checkHostAddressFree(const netlink::Socket& host, const std::vector<netlink::AddressInfo>& onHost,
                          std::vector<IpPrefix>& planned, const IpPrefix& address) {
    for (const auto& existing : onHost) {
        if (existing.address.family == address.family && existing.address.bytes == address.bytes) {
            auto link = netlink::findLink(host, existing.index);
            fail("address " + address.str() + " already in use on the host (on dev " +
                 (link ? link->name : std::to_string(existing.index)) + ")");
        }
    }
    for (const auto& other : planned) {
        if (other.family == address.family && other.bytes == address.bytes) {
            fail("address " + address.address() + " is planned twice");
        }
    }
    planned.push_back(address);
}

// The veths' preconditions on the host, read-only: their names free, their
// bridges bridges (whose indexes they learn), their host addresses unused.
void checkHostVeths(const netlink::Socket& host, std::vector<ParsedVeth>& veths) {
    const auto onHost = netlink::listAddresses(host);
    std::vector<IpPrefix> planned;
    for (auto& veth : veths) {
        const VethPlan& p = *veth.plan;
        for (const std::string& name : {p.hostName, p.hostAltName}) {
            if (!name.empty() && netlink::findLink(host, name)) {
                fail("host interface '" + name + "' already exists");
            }
        }
        if (!p.options.hostBridge.empty()) {
            auto bridge = netlink::findLink(host, p.options.hostBridge);
            if (!bridge) {
                fail("bridge '" + p.options.hostBridge + "' does not exist");
            }
            if (bridge->kind != "bridge") {
                fail("'" + p.options.hostBridge + "' is not a bridge");
            }
            veth.bridgeIndex = bridge->index;
            continue;  // the module addresses a bridged host end not at all
        }
        for (const auto& address : {veth.hostAddress, veth.hostAddress6}) {
            if (address) {
                checkHostAddressFree(host, onHost, planned, *address);
            }
        }
    }
}

// The host indexes of existing links (interfaces to move, macvlan parents);
// a missing one is "BEFORE name AFTER".
std::vector<int> hostIndexes(const netlink::Socket& host, const std::vector<std::string>& names,
                             const std::string& before, const std::string& after) {
    std::vector<int> indexes;
    for (const auto& name : names) {
        auto link = netlink::findLink(host, name);
        if (!link) {
            fail(before + name + after);
        }
        indexes.push_back(link->index);
    }
    return indexes;
}

void setUpNamespace(const netlink::Namespace& ns, const NetworkPlan& plan, std::string& step) {
    step = "bringing up loopback in the container";
    auto loopback = netlink::findLink(ns.socket, "lo");
    if (!loopback) {
        fail("the container's namespace has no loopback");
    }
    netlink::setUp(ns.socket, loopback->index);
    if (plan.unprivilegedRoot) {
        step = "opening low ports and ICMP echo to the container's users";
        netlink::writeNetSysctl(ns.fd.get(), "ipv4/ip_unprivileged_port_start", "0");
        netlink::writeNetSysctl(ns.fd.get(), "ipv4/ping_group_range", "0 2147483647");
    }
}

// The host end: the module's post-start steps, in its order.
void configureHostEnd(const netlink::Socket& host, int hostIndex, const ParsedVeth& veth) {
    if (veth.bridgeIndex != 0) {
        netlink::changeLink(host, hostIndex, {.up = true, .master = veth.bridgeIndex});
        return;
    }
    netlink::setUp(host, hostIndex);
    for (const auto& address : {veth.hostAddress, veth.hostAddress6}) {
        if (address) {
            netlink::addAddress(host, hostIndex, *address);
        }
    }
    for (const auto& address : {veth.localAddress, veth.localAddress6}) {
        if (address) {
            netlink::addRoute(host, hostIndex, address->host());
        }
    }
}

// The container end: what the module's init wrapper did inside.
void configureContainerEnd(const netlink::Namespace& ns, const ParsedVeth& veth, const std::string& step) {
    auto inside = netlink::findLink(ns.socket, veth.plan->containerName);
    if (!inside) {
        fail(step + ": the container end is missing");
    }
    netlink::setUp(ns.socket, inside->index);
    for (const auto& address : {veth.localAddress, veth.localAddress6}) {
        if (address) {
            netlink::addAddress(ns.socket, inside->index, *address);
        }
    }
    for (const auto& gateway : {veth.hostAddress, veth.hostAddress6}) {
        if (gateway) {
            netlink::addRoute(ns.socket, inside->index, gateway->host());
            if (veth.main) {
                IpPrefix any;
                any.family = gateway->family;
                netlink::addRoute(ns.socket, inside->index, any, *gateway);
            }
        }
    }
}

void createVeth(const netlink::Socket& host, const netlink::Namespace& ns, const ParsedVeth& veth,
                Rollback& rollback, std::string& step) {
    const VethPlan& p = *veth.plan;
    step = "creating veth '" + p.hostName + "'";
    int hostIndex = netlink::createVeth(host, p.hostName, p.containerName, ns.fd.get(), p.containerMac);
    // Deleting either end of a veth deletes both.
    rollback.add([&host, hostIndex] { netlink::deleteLink(host, hostIndex); });
    if (!p.hostAltName.empty()) {
        step = "adding altname '" + p.hostAltName + "' to '" + p.hostName + "'";
        netlink::addAltName(host, hostIndex, p.hostAltName);
    }
    step = "configuring host interface '" + p.hostName + "'";
    configureHostEnd(host, hostIndex, veth);
    step = "configuring '" + p.containerName + "' in the container";
    configureContainerEnd(ns, veth, step);
}

void moveInterfaces(const netlink::Socket& host, const netlink::Namespace& ns,
                    const netlink::Fd& hostNamespace, const std::vector<std::string>& names,
                    const std::vector<int>& indexes, Rollback& rollback, std::string& step) {
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& name = names[i];
        step = "moving interface '" + name + "' into the container";
        netlink::moveToNamespace(host, indexes[i], ns.fd.get());
        rollback.add([&ns, &hostNamespace, name] {
            // Back to the host: a namespace's end would delete virtual
            // devices and send physical ones to the init namespace.
            if (auto link = netlink::findLink(ns.socket, name)) {
                netlink::moveToNamespace(ns.socket, link->index, hostNamespace.get());
            }
        });
    }
}

void createMacvlans(const netlink::Socket& host, const netlink::Namespace& ns,
                    const std::vector<std::string>& parents, const std::vector<int>& parentIndexes,
                    Rollback& rollback, std::string& step) {
    for (std::size_t i = 0; i < parents.size(); ++i) {
        const std::string name = macvlanName(parents[i]);
        step = "creating macvlan '" + name + "' on '" + parents[i] + "'";
        netlink::createMacvlan(host, name, parentIndexes[i], ns.fd.get());
        rollback.add([&ns, name] {
            if (auto link = netlink::findLink(ns.socket, name)) {
                netlink::deleteLink(ns.socket, link->index);
            }
        });
    }
}

}  // namespace

void NetlinkContainerNetwork::prepare(const NetworkPlan& plan) {
    auto veths = parseVeths(plan);
    std::string step = "opening a netlink socket";
    // Declared outside the try block: the undo steps use them from the
    // handlers below.
    std::optional<netlink::Socket> hostSocket;
    std::optional<netlink::Namespace> ns;
    std::optional<netlink::Fd> hostNamespace;
    Rollback rollback;
    try {
        const netlink::Socket& host = hostSocket.emplace();
        step = "checking the host";
        checkHostVeths(host, veths);
        const auto moveIndexes =
            hostIndexes(host, plan.moveInterfaces, "interface '", "' to move does not exist");
        const auto parentIndexes =
            hostIndexes(host, plan.macvlanParents, "macvlan parent '", "' does not exist");
        hostNamespace = netlink::currentNamespace();

        step = "creating network namespace " + plan.netnsPin.string();
        ns = netlink::createPinnedNamespace(plan.netnsPin);
        rollback.add([&plan] { netlink::removePinnedNamespace(plan.netnsPin); });
        setUpNamespace(*ns, plan, step);
        for (const auto& veth : veths) {
            createVeth(host, *ns, veth, rollback, step);
        }
        moveInterfaces(host, *ns, *hostNamespace, plan.moveInterfaces, moveIndexes, rollback, step);
        createMacvlans(host, *ns, plan.macvlanParents, parentIndexes, rollback, step);
        // Success: what was created is the container's now.
        return;
    } catch (const ContainerError&) {
        rollback.run();
        throw;
    } catch (const netlink::Error& error) {
        rollback.run();
        fail(step + ": " + error.text());
    } catch (const std::system_error& error) {
        rollback.run();
        fail(step + ": " + error.code().message());
    } catch (const std::exception& error) {
        rollback.run();
        fail(step + ": " + error.what());
    }
}

namespace {

// release()'s steps: each is attempted even when an earlier one failed, so
// that as much as possible is gone; the failures are reported together.
class Attempts {
public:
    void operator()(const std::string& what, const std::function<void()>& work) {
        try {
            work();
        } catch (const std::exception& error) {
            failures_.push_back(what + ": " + error.what());
        }
    }
    void report(const std::string& container) const {
        if (failures_.empty()) {
            return;
        }
        std::string message = "releasing the network of '" + container + "'";
        for (const auto& failure : failures_) {
            message += "; " + failure;
        }
        fail(message);
    }

private:
    std::vector<std::string> failures_;
};

// A link already gone (with its peer, or its namespace) is what was wanted.
void deleteLinkIfThere(const netlink::Socket& socket, int index) {
    try {
        netlink::deleteLink(socket, index);
    } catch (const netlink::Error& error) {
        if (error.code() != NLE_OBJ_NOTFOUND && error.code() != NLE_NODEV) {
            throw;
        }
    }
}

// Interfaces lent to the container go back to the host. One the container
// renamed is not found here; it then follows the kernel's rule when the
// namespace ends (virtual ones are deleted, physical ones return to the
// initial namespace).
void returnLentInterfaces(const netlink::Namespace& ns, const NetworkPlan& plan) {
    netlink::Fd hostNamespace = netlink::currentNamespace();
    for (const auto& name : plan.moveInterfaces) {
        auto link = netlink::findLink(ns.socket, name);
        if (link && link->name == name) {
            netlink::moveToNamespace(ns.socket, link->index, hostNamespace.get());
        }
    }
}

// Deleting the container ends now, rather than leaving it to the
// namespace's asynchronous teardown, takes the host ends with them at once,
// so a prepare() right after finds their names free.
void deleteContainerEnds(const netlink::Namespace& ns) {
    for (const auto& link : netlink::listLinks(ns.socket)) {
        if (link.kind == "veth" || link.kind == "macvlan") {
            deleteLinkIfThere(ns.socket, link.index);
        }
    }
}

void deleteHostEnds(const netlink::Socket& host, const NetworkPlan& plan, Attempts& attempt) {
    std::vector<std::pair<const VethPlan*, bool>> veths;  // with "is the main veth"
    if (plan.mainVeth) {
        veths.emplace_back(&*plan.mainVeth, true);
    }
    for (const auto& veth : plan.extraVeths) {
        veths.emplace_back(&veth, false);
    }
    for (const auto& entry : veths) {
        // Not a structured binding: clang cannot capture those in lambdas.
        const VethPlan* veth = entry.first;
        const bool main = entry.second;
        attempt("deleting host interface '" + veth->hostName + "'", [&] {
            if (auto link = findHostEnd(host, *veth, main)) {
                deleteLinkIfThere(host, link->index);
            }
        });
    }
}

}  // namespace

void NetlinkContainerNetwork::release(const NetworkPlan& plan) {
    Attempts attempt;
    std::optional<netlink::Socket> host;
    attempt("opening a netlink socket", [&] { host.emplace(); });
    std::optional<netlink::Namespace> ns;
    attempt("opening " + plan.netnsPin.string(), [&] { ns = netlink::openPinnedNamespace(plan.netnsPin); });
    if (ns) {
        attempt("returning interfaces to the host", [&] { returnLentInterfaces(*ns, plan); });
        attempt("deleting the container's interfaces", [&] { deleteContainerEnds(*ns); });
    }
    if (host) {
        deleteHostEnds(*host, plan, attempt);
    }
    attempt("removing " + plan.netnsPin.string(), [&] { netlink::removePinnedNamespace(plan.netnsPin); });
    attempt.report(plan.container);
}

}  // namespace nixos_containers
