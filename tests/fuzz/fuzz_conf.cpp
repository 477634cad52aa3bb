// The NAME.conf reader and writer: EnvFile::parse, serialize, specFromConf
// and confFromSpec, on arbitrary text (the conf files are hand-editable and
// written by other tools).
//
// Asserts beyond "no crash":
//  - only ContainerError escapes, with a valid UTF-8 message;
//  - parse(serialize(parse(text))) has the same entries as parse(text);
//  - specFromConf of what was read, written back onto the same conf with
//    confFromSpec (unknown keys kept) and read again, gives the same spec;
//  - when validateSpec accepts that spec, a fresh conf round trip gives it back.

#include "fuzz_support.h"

#include <string>

using namespace nixos_containers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    EnvFile file;
    if (!fuzz::onlyContainerError("EnvFile::parse", [&] { file = EnvFile::parse(text); })) {
        return 0;
    }
    const std::string written = file.serialize();
    EnvFile reread;
    if (!fuzz::onlyContainerError("EnvFile::parse of serialize", [&] { reread = EnvFile::parse(written); })) {
        fuzz::finding("conf round trip", "serialize() wrote text parse() refuses:\n" + written);
    }
    if (reread.entries() != file.entries()) {
        fuzz::finding("conf round trip",
                      "parse(serialize(parse(x))) differs from parse(x); serialized:\n" + written);
    }

    ContainerSpec spec;
    if (!fuzz::onlyContainerError("specFromConf", [&] { spec = specFromConf(file); })) {
        return 0;
    }
    // What the store does on Update: rewrite the conf it read, keeping
    // keys it does not know. A spec read from a conf need not be writable
    // (confFromSpec refuses items that would not come back), but when it is,
    // reading the result must give the same spec.
    std::string rewritten;
    if (fuzz::onlyContainerError("confFromSpec", [&] {
            rewritten = confFromSpec(spec, file, "/etc/nixos-containers/fuzz.nix").serialize();
        })) {
        ContainerSpec again;
        if (!fuzz::onlyContainerError("specFromConf of rewrite",
                                      [&] { again = specFromConf(EnvFile::parse(rewritten)); })) {
            fuzz::finding("conf rewrite", "confFromSpec wrote a conf specFromConf refuses:\n" + rewritten);
        }
        ContainerSpec expected = spec;
        for (auto& port : expected.forwardPorts) {
            if (port.containerPort == 0) {
                port.containerPort = port.hostPort;
            }
        }
        if (!expected.privateNetwork) {
            // Like the module, confFromSpec writes network keys only with
            // PRIVATE_NETWORK=1; specFromConf read them regardless.
            expected.network = {};
            expected.forwardPorts.clear();
        }
        if (again != expected) {
            fuzz::finding("conf rewrite", "rewriting a conf changed its spec\nwanted:\n" +
                                              fuzz::describe(expected) + "got:\n" + fuzz::describe(again) +
                                              "conf:\n" + rewritten);
        }
    }

    if (fuzz::onlyContainerError("validateSpec", [&] { validateSpec(spec, fuzz::settings()); })) {
        fuzz::checkSpecRoundTrip(spec);
        fuzz::checkNspawnArgv(spec);
    }
    return 0;
}
