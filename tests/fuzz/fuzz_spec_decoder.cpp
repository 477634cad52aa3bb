// The a{sv} decoder of Create and Update (applySpecEntries), fed D-Bus
// variants built from the fuzz input, followed by validateSpec.
//
// Input, read front to back (see Reader; missing bytes read as zero): two
// dictionaries, the Create one and an Update applied on its result. Each is
// a count byte (modulo 16) and that many entries:
//   key byte: below 200 one of kKeys (modulo its size), else a key string
//   type byte (modulo kTypeCount): the D-Bus type of the value, right or
//   wrong for the key, then the value in that type:
//     s: string   b: byte&1   as: count + strings   a(sqq): count + (s, u16, u16)
//     a(ssb): count + (s, s, byte&1)   a(ss): count + (s, s)
//     a{sa{ss}}: count + (s, count + (s, s))   i: u32   q: u16   d: u32
//     a{ss}: count + (s, s)   ay: string
// A string is a length byte and that many bytes; counts are modulo 8.
// Strings that are not valid D-Bus strings (bad UTF-8) cannot reach the
// service, as the bus refuses them: sdbus-c++ refuses to build the variant
// and the entry is dropped.
//
// Asserts beyond "no crash":
//  - only ContainerError escapes, with a valid UTF-8 message;
//  - naming any system source replaces the previous one (the other three
//    are empty afterwards unless given in the same call);
//  - a spec validateSpec accepts survives the conf round trip;
//  - and its nspawn argv is one nspawn's option parser takes as meant
//    (fuzz::checkNspawnArgv: no unknown, ambiguous or abbreviated option).

#include "fuzz_support.h"
#include "spec_decoder.h"
#include "spec_keys.h"

#include <sdbus-c++/Error.h>
#include <sdbus-c++/Types.h>

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <vector>

using namespace nixos_containers;

namespace {

// Every key the registry knows, in the order make_seeds.py's KEYS codes
// them (the committed seeds depend on it); a key missing here is still
// reached by name, as a key string.
constexpr std::array<std::string_view, 23> kKeys = {
    "SystemPath",      "Config",
    "ConfigFile",      "Flake",
    "PrivateNetwork",  "HostAddress",
    "LocalAddress",    "HostAddress6",
    "LocalAddress6",   "HostBridge",
    "ForwardPorts",    "BindMounts",
    "Tmpfs",           "AdditionalCapabilities",
    "AllowedDevices",  "EnableTun",
    "Ephemeral",       "AutoStart",
    "TimeoutStartSec", "ExtraVeths",
    "Interfaces",      "Macvlans",
    "ExtraFlags",
};

constexpr unsigned kTypeCount = 12;

std::vector<std::string> strings(fuzz::Reader& in) {
    std::vector<std::string> out(in.byte() % 8);
    for (auto& item : out) {
        item = in.string();
    }
    return out;
}

sdbus::Variant value(fuzz::Reader& in, unsigned type) {
    using sdbus::Struct;
    switch (type) {
        case 0:
            return sdbus::Variant(in.string());
        case 1:
            return sdbus::Variant((in.byte() & 1) != 0);
        case 2:
            return sdbus::Variant(strings(in));
        case 3: {
            std::vector<Struct<std::string, std::uint16_t, std::uint16_t>> ports(in.byte() % 8);
            for (auto& port : ports) {
                std::get<0>(port) = in.string();
                std::get<1>(port) = in.u16();
                std::get<2>(port) = in.u16();
            }
            return sdbus::Variant(ports);
        }
        case 4: {
            std::vector<Struct<std::string, std::string, bool>> binds(in.byte() % 8);
            for (auto& bind : binds) {
                std::get<0>(bind) = in.string();
                std::get<1>(bind) = in.string();
                std::get<2>(bind) = (in.byte() & 1) != 0;
            }
            return sdbus::Variant(binds);
        }
        case 5: {
            std::vector<Struct<std::string, std::string>> pairs(in.byte() % 8);
            for (auto& pair : pairs) {
                std::get<0>(pair) = in.string();
                std::get<1>(pair) = in.string();
            }
            return sdbus::Variant(pairs);
        }
        case 6: {
            std::map<std::string, std::map<std::string, std::string>> veths;
            unsigned count = in.byte() % 8U;
            for (unsigned i = 0; i < count; ++i) {
                auto name = in.string();
                auto& fields = veths[name];
                unsigned fieldCount = in.byte() % 8U;
                for (unsigned k = 0; k < fieldCount; ++k) {
                    auto key = in.string();
                    fields[key] = in.string();
                }
            }
            return sdbus::Variant(veths);
        }
        case 7:
            return sdbus::Variant(static_cast<std::int32_t>(in.u32()));
        case 8:
            return sdbus::Variant(in.u16());
        case 9:
            return sdbus::Variant(static_cast<double>(in.u32()));
        case 10: {
            std::map<std::string, std::string> map;
            unsigned count = in.byte() % 8U;
            for (unsigned i = 0; i < count; ++i) {
                auto key = in.string();
                map[key] = in.string();
            }
            return sdbus::Variant(map);
        }
        default: {
            auto bytes = in.string();
            return sdbus::Variant(std::vector<std::uint8_t>(bytes.begin(), bytes.end()));
        }
    }
}

std::map<std::string, sdbus::Variant> entries(fuzz::Reader& in) {
    std::map<std::string, sdbus::Variant> out;
    unsigned count = in.byte() % 16U;
    for (unsigned i = 0; i < count; ++i) {
        auto keyByte = in.byte();
        std::string key = keyByte < 200 ? std::string(kKeys[keyByte % kKeys.size()]) : in.string();
        unsigned type = in.byte() % kTypeCount;
        try {
            auto built = value(in, type);
            // The key is a D-Bus string too: the bus refuses bad UTF-8 in it.
            if (fuzz::isValidUtf8(key)) {
                out.insert_or_assign(key, std::move(built));
            }
        } catch (const sdbus::Error&) {
            // Not a valid D-Bus string somewhere in the value: the bus would
            // have refused the message. Dropped, as it could never arrive.
        }
    }
    return out;
}

bool namesSource(const std::map<std::string, sdbus::Variant>& call) {
    return std::any_of(call.begin(), call.end(), [](const auto& entry) {
        const auto* key = findSpecKey(entry.first);
        return key != nullptr && key->systemSource;
    });
}

void checkSourceReplaced(const std::map<std::string, sdbus::Variant>& call, const ContainerSpec& spec) {
    if (!namesSource(call)) {
        return;
    }
    for (const auto& key : specKeys()) {
        if (key.systemSource && !call.contains(std::string(key.busName)) &&
            key.get(spec) != key.defaultValue()) {
            fuzz::finding("applySpecEntries", std::string(key.busName) +
                                                  " survived a call naming another source:\n" +
                                                  fuzz::describe(spec));
        }
    }
}

// Applies one call onto `spec` the way Create / Update do; false when the
// decoder refused it (then `spec` is not used further).
bool applyCall(ContainerSpec& spec, const std::map<std::string, sdbus::Variant>& call) {
    if (!fuzz::onlyContainerError("applySpecEntries", [&] { applySpecEntries(spec, call); })) {
        return false;
    }
    checkSourceReplaced(call, spec);
    if (fuzz::onlyContainerError("validateSpec", [&] { validateSpec(spec, fuzz::settings()); })) {
        fuzz::checkSpecRoundTrip(spec);
        fuzz::checkNspawnArgv(spec);
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Reader in(data, size);
    auto create = entries(in);
    auto update = entries(in);
    ContainerSpec spec;
    if (applyCall(spec, create)) {
        applyCall(spec, update);
    }
    return 0;
}
