#pragma once

// Shared pieces of the libFuzzer targets: the Settings they validate
// against, the one exception policy, the spec <-> conf round trip and a
// small sequential byte reader for the structured generators.

#include "conf_file.h"
#include "container_spec.h"
#include "errors.h"
#include "settings.h"
#include "spec_validation.h"
#include "validation.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

namespace nixos_containers::fuzz {

// The system every "valid" SystemPath names. It exists under the fake
// store as NAME/init, so validateSpec can accept it either as
// /nix/store/NAME or as storeDir/NAME. The seeds use this literal.
inline constexpr std::string_view kSystemName = "0000000000000000000000000000000a-nixos-system-fuzz";

// Settings whose storeDir is a private temporary directory holding
// kSystemName/init; created once per process, removed at exit.
const Settings& settings();

// A property does not hold: print what and why, then abort() so libFuzzer
// records the input as a crash.
[[noreturn]] void finding(std::string_view what, std::string_view details);

// Runs `body`; returns true when it completed, false when it threw a
// ContainerError (the only exception the code under test may throw, with a
// message that is valid UTF-8 since it travels over D-Bus). Any other
// exception is a finding.
void checkErrorMessage(std::string_view what, const ContainerError& error);

template <typename Body>
bool onlyContainerError(std::string_view what, Body&& body) {
    try {
        body();
        return true;
    } catch (const ContainerError& error) {
        checkErrorMessage(what, error);
        return false;
    } catch (const std::exception& error) {
        finding(what,
                std::string("a non-ContainerError escaped: ") + typeid(error).name() + ": " + error.what());
    } catch (...) {
        finding(what, "an exception that is no std::exception escaped");
    }
}

// sd-bus's rule for D-Bus strings: well-formed UTF-8 without NUL.
bool isValidUtf8(std::string_view text);

// A readable dump of a spec, for findings.
std::string describe(const ContainerSpec& spec);

// For a spec validateSpec accepted: confFromSpec must accept it too, and
// specFromConf(parse(serialize)) must give it back (Config text lives in its
// own file, so it comes back empty; containerPort 0 comes back as the host
// port, as the module writes it).
void checkSpecRoundTrip(const ContainerSpec& spec);

// For a spec validateSpec accepted (issue 16): the nspawn argv the service
// builds for it (buildNspawnArgv, with and without its network namespace,
// with and without the Nix state binds) is one nspawn's own option parser
// takes: every option in nspawn's table (nspawn_options.h), none
// abbreviated or ambiguous, no value taken from the next word by surprise,
// the init the only operand (nspawnArgvProblem).
void checkNspawnArgv(const ContainerSpec& spec);

// Reads the fuzz input front to back; past the end every read gives zero
// or empty, so any input decodes to something.
class Reader {
public:
    Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
    std::uint16_t u16() {
        auto low = byte();
        return static_cast<std::uint16_t>(low | (byte() << 8));
    }
    std::uint32_t u32() {
        std::uint32_t low = u16();
        return low | (static_cast<std::uint32_t>(u16()) << 16);
    }
    // A length byte, then that many bytes (fewer at the end of the input).
    std::string string() {
        std::size_t length = byte();
        length = std::min(length, size_ - at_);
        std::string out(reinterpret_cast<const char*>(data_ + at_), length);
        at_ += length;
        return out;
    }
    [[nodiscard]] bool done() const { return at_ >= size_; }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

}  // namespace nixos_containers::fuzz
