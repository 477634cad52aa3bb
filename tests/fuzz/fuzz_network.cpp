// Address and port validation: a spec whose network part (addresses,
// bridge, forwarded ports, extra veths, interfaces, macvlans) comes from the
// fuzz input, checked by validateSpec.
//
// Input, read front to back (see Reader; missing bytes read as zero):
//   flags byte (bit 0: PrivateNetwork)
//   HostAddress, LocalAddress, HostAddress6, LocalAddress6, HostBridge: strings
//   port count, then per port: protocol string, host port u16, container port u16
//   veth count, then per veth: name string and five option strings
//   interface count + strings, macvlan count + strings
// A string is a length byte and that many bytes. Counts are taken modulo 8.
//
// Asserts beyond "no crash":
//  - only ContainerError escapes, with a valid UTF-8 message;
//  - every address an accepted spec holds parses with inet_pton in its
//    family and has a prefix within 0-32 / 0-128; ports are tcp|udp, host
//    port non-zero, (protocol, host port) unique; without PrivateNetwork no
//    network key is set;
//  - an accepted spec survives the conf round trip.

#include "fuzz_support.h"

#include <arpa/inet.h>

#include <array>
#include <set>
#include <string>

using namespace nixos_containers;

namespace {

std::vector<std::string> strings(fuzz::Reader& in) {
    std::vector<std::string> out(in.byte() % 8);
    for (auto& item : out) {
        item = in.string();
    }
    return out;
}

NetworkOptions options(fuzz::Reader& in) {
    NetworkOptions out;
    out.hostAddress = in.string();
    out.localAddress = in.string();
    out.hostAddress6 = in.string();
    out.localAddress6 = in.string();
    out.hostBridge = in.string();
    return out;
}

// The documented address rule, checked independently of validation.cpp.
bool addressOk(const std::string& value, bool ipv6) {
    if (value.empty()) {
        return true;
    }
    auto slash = value.find('/');
    std::string address = value.substr(0, slash);
    if (address.find('\0') != std::string::npos) {
        return false;
    }
    std::array<unsigned char, 16> buffer{};
    if (inet_pton(ipv6 ? AF_INET6 : AF_INET, address.c_str(), buffer.data()) != 1) {
        return false;
    }
    if (slash == std::string::npos) {
        return true;
    }
    auto prefix = value.substr(slash + 1);
    if (prefix.empty() || prefix.size() > 3 ||
        !std::all_of(prefix.begin(), prefix.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    return std::stoul(prefix) <= (ipv6 ? 128U : 32U);
}

bool optionsOk(const NetworkOptions& o) {
    return addressOk(o.hostAddress, false) && addressOk(o.localAddress, false) &&
           addressOk(o.hostAddress6, true) && addressOk(o.localAddress6, true) &&
           (o.hostBridge.empty() || (o.hostAddress.empty() && o.hostAddress6.empty()));
}

void checkAccepted(const ContainerSpec& spec) {
    if (!spec.privateNetwork &&
        (spec.network.hasAddress() || !spec.network.hostBridge.empty() || !spec.forwardPorts.empty() ||
         !spec.extraVeths.empty() || !spec.interfaces.empty() || !spec.macvlans.empty())) {
        fuzz::finding("validateSpec",
                      "accepted network keys without PrivateNetwork:\n" + fuzz::describe(spec));
    }
    bool ok = optionsOk(spec.network);
    for (const auto& [name, veth] : spec.extraVeths) {
        ok = ok && optionsOk(veth);
    }
    std::set<std::pair<std::string, std::uint16_t>> seen;
    for (const auto& port : spec.forwardPorts) {
        ok = ok && (port.protocol == "tcp" || port.protocol == "udp") && port.hostPort != 0 &&
             seen.emplace(port.protocol, port.hostPort).second;
    }
    if (!ok) {
        fuzz::finding("validateSpec", "accepted a bad address, bridge or port:\n" + fuzz::describe(spec));
    }
    fuzz::checkSpecRoundTrip(spec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Reader in(data, size);
    ContainerSpec spec;
    spec.systemPath = "/nix/store/" + std::string(fuzz::kSystemName);
    spec.privateNetwork = (in.byte() & 1) != 0;
    spec.network = options(in);
    spec.forwardPorts.resize(in.byte() % 8);
    for (auto& port : spec.forwardPorts) {
        port.protocol = in.string();
        port.hostPort = in.u16();
        port.containerPort = in.u16();
    }
    unsigned veths = in.byte() % 8U;
    for (unsigned i = 0; i < veths; ++i) {
        auto name = in.string();
        spec.extraVeths[name] = options(in);
    }
    spec.interfaces = strings(in);
    spec.macvlans = strings(in);

    if (fuzz::onlyContainerError("validateSpec", [&] { validateSpec(spec, fuzz::settings()); })) {
        checkAccepted(spec);
        fuzz::checkNspawnArgv(spec);
    }
    return 0;
}
