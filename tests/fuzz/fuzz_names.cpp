// Name-like values checked one at a time: container names (validateName),
// interface names (validateInterfaceName) and time spans
// (parseTimespanUsec, TimeoutStartSec). The first byte picks the check, the
// rest is the value.
//
// Asserts beyond "no crash":
//  - only ContainerError escapes, with a valid UTF-8 message;
//  - validateName, validateExistingName and validateInterfaceName accept exactly what their
//    documented rule (an independent oracle below) accepts;
//  - a time span parseTimespanUsec accepts parses the same with extra
//    spaces around it, and, without tabs or newlines, is accepted as
//    TimeoutStartSec and survives the conf round trip.

#include "fuzz_support.h"

#include <limits>
#include <string>

using namespace nixos_containers;

namespace {

bool isNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// nixos-container's /^[a-zA-Z0-9_-]+$/, not starting with '-', at most 64:
// the names of containers that exist already (validateExistingName).
bool existingNameOracle(std::string_view name) {
    return !name.empty() && name.size() <= kMaxNameLength && name.front() != '-' &&
           std::all_of(name.begin(), name.end(), isNameChar);
}

// New names (validateName): also a machine name for systemd-nspawn, so no
// '_' and no trailing '-' (issue 16).
bool nameOracle(std::string_view name) {
    return existingNameOracle(name) && name.find('_') == std::string_view::npos && name.back() != '-';
}

// Linux's dev_valid_name plus what NAME.conf lists cannot hold.
bool interfaceOracle(std::string_view name) {
    if (name.empty() || name.size() > 15 || name == "." || name == "..") {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        auto byte = static_cast<unsigned char>(c);
        return byte > 0x20 && byte < 0x7f &&
               std::string_view("/:,\"'\\$`*?[").find(c) == std::string_view::npos;
    });
}

void checkName(std::string_view value) {
    bool accepted = fuzz::onlyContainerError("validateName", [&] { validateName(value); });
    if (accepted != nameOracle(value)) {
        fuzz::finding("validateName", std::string(accepted ? "accepted" : "refused") + " a name the rule " +
                                          (accepted ? "refuses" : "accepts"));
    }
    bool existing = fuzz::onlyContainerError("validateExistingName", [&] { validateExistingName(value); });
    if (existing != existingNameOracle(value)) {
        fuzz::finding("validateExistingName", std::string(existing ? "accepted" : "refused") +
                                                  " a name the rule " + (existing ? "refuses" : "accepts"));
    }
}

void checkInterface(std::string_view value) {
    bool accepted = fuzz::onlyContainerError("validateInterfaceName",
                                             [&] { validateInterfaceName("Interfaces", value); });
    if (accepted != interfaceOracle(value)) {
        fuzz::finding("validateInterfaceName", std::string(accepted ? "accepted" : "refused") +
                                                   " an interface name the rule " +
                                                   (accepted ? "refuses" : "accepts"));
    }
}

void checkTimespan(std::string_view value) {
    std::uint64_t usec = 0;
    if (!fuzz::onlyContainerError("parseTimespanUsec", [&] { usec = parseTimespanUsec(value); })) {
        return;
    }
    std::uint64_t padded = 0;
    std::string spaced = " " + std::string(value) + " ";
    if (!fuzz::onlyContainerError("parseTimespanUsec padded", [&] { padded = parseTimespanUsec(spaced); }) ||
        padded != usec) {
        fuzz::finding("parseTimespanUsec", "surrounding spaces changed the result");
    }
    if (value.find_first_of("\t\n\r\v\f") != std::string_view::npos) {
        return;  // TimeoutStartSec refuses these on purpose: the conf holds spaces only.
    }
    ContainerSpec spec;
    spec.systemPath = "/nix/store/" + std::string(fuzz::kSystemName);
    spec.timeoutStartSec = std::string(value);
    if (!fuzz::onlyContainerError("validateSpec", [&] { validateSpec(spec, fuzz::settings()); })) {
        fuzz::finding("TimeoutStartSec", "parseTimespanUsec accepts it but validateSpec does not");
    }
    fuzz::checkSpecRoundTrip(spec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string_view value(reinterpret_cast<const char*>(data + 1), size - 1);
    switch (data[0] % 3) {
        case 0:
            checkName(value);
            break;
        case 1:
            checkInterface(value);
            break;
        default:
            checkTimespan(value);
            break;
    }
    return 0;
}
