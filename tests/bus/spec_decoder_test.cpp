// Create's and Update's a{sv} decoder, without a bus: every key decodes to
// its field, wrong types and unknown keys are named, a new source replaces
// the old one.
#include "spec_decoder.h"
#include "spec_keys.h"
#include "spec_value_bus.h"

#include <gtest/gtest.h>

#include <string>

namespace nixos_containers {
namespace {

using Entries = std::map<std::string, sdbus::Variant>;

// A value of every key, none at its default.
ContainerSpec richSpec() {
    ContainerSpec spec;
    spec.systemPath = "/nix/store/abc-nixos-system-web";
    spec.config = "{ }";
    spec.configFile = "/etc/nixos/web.nix";
    spec.flake = "github:alice/containers#web";
    spec.privateNetwork = true;
    spec.network = {"10.233.1.1", "10.233.1.2/24", "fc00::1", "fc00::2/64", "br0"};
    spec.forwardPorts = {{"tcp", 8080, 80}, {"udp", 53, 53}};
    spec.bindMounts = {{"/mnt", "/host", true}, {"/data", "", false}};
    spec.tmpfs = {"/var", "/tmp:mode=1777"};
    spec.additionalCapabilities = {"CAP_NET_ADMIN"};
    spec.allowedDevices = {{"/dev/fuse", "rwm"}};
    spec.enableTun = true;
    spec.ephemeral = true;
    spec.autoStart = true;
    spec.timeoutStartSec = "90s";
    spec.memoryMax = "64M";
    spec.memoryHigh = "48M";
    spec.nixosPath = "/srv/nixpkgs/nixos";
    spec.networkNamespace = "/run/netns/blue";
    spec.copyResolvConf = false;
    spec.nixFlags = {"--option", "cores", "2"};
    spec.localMacAddress = "02:00:00:00:00:01";
    spec.cpuWeight = "50";
    spec.cpuQuota = "25%";
    spec.tasksMax = "512";
    spec.ioWeight = "200";
    spec.privateUsers = "pick";
    spec.extraVeths = {{"ve-a", {"10.1.0.1", "10.1.0.2", "fc01::1", "fc01::2", ""}},
                       {"ve-b", {"", "", "", "", "br1"}}};
    spec.interfaces = {"eth1", "eth2"};
    spec.macvlans = {"enp3s0"};
    spec.extraFlags = {"--quiet"};
    return spec;
}

std::string errorOf(const std::function<void()>& action) {
    try {
        action();
    } catch (const ContainerError& error) {
        EXPECT_EQ(error.code(), ErrorCode::InvalidArgument) << error.what();
        return error.what();
    }
    ADD_FAILURE() << "accepted";
    return {};
}

TEST(SpecDecoder, EveryKeyDecodesToItsField) {
    const auto rich = richSpec();
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        ASSERT_NE(key.get(rich), key.defaultValue()) << "richSpec leaves the key at its default";
        ContainerSpec spec;
        applySpecEntries(spec, {{std::string(key.busName), bus_values::toBusVariant(key.get(rich))}});
        EXPECT_EQ(key.get(spec), key.get(rich));
        for (const auto& other : specKeys()) {
            if (&other != &key) {
                EXPECT_EQ(other.get(spec), other.defaultValue()) << other.busName;
            }
        }
    }
}

TEST(SpecDecoder, EveryKindHasTheXmlSignature) {
    // The signatures the registry (and through it spec_keys_test, the XML)
    // names are the ones the decoder reads and the getters write.
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::String>>::str(),
              busSignature(SpecKind::String));
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::Flag>>::str(),
              busSignature(SpecKind::Flag));
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::Words>>::str(),
              busSignature(SpecKind::Words));
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::Ports>>::str(),
              busSignature(SpecKind::Ports));
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::BindMounts>>::str(),
              busSignature(SpecKind::BindMounts));
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::Devices>>::str(),
              busSignature(SpecKind::Devices));
    EXPECT_EQ(sdbus::signature_of<bus_values::BusTypeOf<SpecKind::Veths>>::str(),
              busSignature(SpecKind::Veths));
}

TEST(SpecDecoder, WrongTypeNamesTheKeyAndBothTypes) {
    for (const auto& key : specKeys()) {
        SCOPED_TRACE(std::string(key.busName));
        // A uint32 is no kind's type.
        auto message = errorOf([&] { decodeSpecPatch({{std::string(key.busName), sdbus::Variant(7U)}}); });
        EXPECT_EQ(message, "key '" + std::string(key.busName) + "' must have type '" +
                               std::string(busSignature(key.kind)) + "', not 'u'");
    }
    EXPECT_EQ(errorOf([] {
                  decodeSpecPatch({{"PrivateNetwork", sdbus::Variant(std::string("yes"))}});
              }),
              "key 'PrivateNetwork' must have type 'b', not 's'");
}

TEST(SpecDecoder, UnknownKeyIsNamed) {
    EXPECT_EQ(errorOf([] {
                  decodeSpecPatch({{"Colour", sdbus::Variant(std::string("red"))}});
              }),
              "unknown key 'Colour'");
    using Veths = bus_values::Veths;
    EXPECT_EQ(errorOf([] {
                  decodeSpecPatch({{"ExtraVeths", sdbus::Variant(Veths{{"ve-a", {{"Colour", "red"}}}})}});
              }),
              "ExtraVeths 've-a': unknown key 'Colour' (HostAddress, LocalAddress, HostAddress6, "
              "LocalAddress6, HostBridge)");
}

TEST(SpecDecoder, NamingANewSourceClearsTheOld) {
    for (const auto& source : specKeys()) {
        if (!source.systemSource) {
            continue;
        }
        SCOPED_TRACE(std::string(source.busName));
        auto spec = richSpec();
        applySpecEntries(spec,
                         {{std::string(source.busName), sdbus::Variant(std::string("/nix/store/new"))}});
        for (const auto& key : specKeys()) {
            if (key.systemSource) {
                EXPECT_EQ(key.get(spec),
                          &key == &source ? SpecValue(std::string("/nix/store/new")) : key.defaultValue())
                    << key.busName;
            } else {
                EXPECT_EQ(key.get(spec), key.get(richSpec())) << key.busName;
            }
        }
    }
    // A patch without a source keeps it.
    auto spec = richSpec();
    applySpecEntries(spec, {{"Ephemeral", sdbus::Variant(false)}});
    EXPECT_EQ(spec.systemPath, richSpec().systemPath);
    EXPECT_FALSE(spec.ephemeral);
}

TEST(SpecDecoder, ContainerPortZeroIsTheHostPort) {
    using Ports = bus_values::Ports;
    ContainerSpec spec;
    applySpecEntries(spec, {{"ForwardPorts", sdbus::Variant(Ports{{"tcp", 8080, 0}, {"udp", 53, 5353}})}});
    EXPECT_EQ(spec.forwardPorts, (std::vector<PortForward>{{"tcp", 8080, 8080}, {"udp", 53, 5353}}));
}

TEST(SpecDecoder, PatchIsAppliedLaterOntoTheSpecThen) {
    auto patch = decodeSpecPatch({{"Tmpfs", sdbus::Variant(std::vector<std::string>{"/var"})}});
    EXPECT_EQ(patch.keys(), (std::vector<std::string>{"Tmpfs"}));
    auto spec = richSpec();
    spec.ephemeral = false;  // changed after decoding: kept
    patch.applyTo(spec);
    EXPECT_EQ(spec.tmpfs, (std::vector<std::string>{"/var"}));
    EXPECT_FALSE(spec.ephemeral);
}

TEST(SpecDecoder, APatchListsOnlyTheKeysTheCallerNamed) {
    auto patch = decodeSpecPatch({{"SystemPath", sdbus::Variant(std::string("/nix/store/abc-system"))},
                                  {"AutoStart", sdbus::Variant(true)}});
    EXPECT_EQ(patch.keys(), (std::vector<std::string>{"AutoStart", "SystemPath"}));
}

}  // namespace
}  // namespace nixos_containers
