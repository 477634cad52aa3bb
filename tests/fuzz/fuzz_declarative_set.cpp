// The declarative set's reader (parseDeclarativeSet, specFromJson) on
// arbitrary text: ApplyDeclarative's argument, which root's configuration
// writes but any caller can send before authorisation.
//
// Asserts beyond "no crash":
//  - only ContainerError escapes, with a valid UTF-8 message, and an entry
//    that cannot be read is a `problem` with an empty spec;
//  - every readable entry's spec, written back as JSON (specToJson) and read
//    again, is the same spec.

#include "container_json.h"
#include "declarative_set.h"
#include "fuzz_support.h"

#include <string>

using namespace nixos_containers;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<DeclaredContainer> set;
    if (!fuzz::onlyContainerError("parseDeclarativeSet", [&] { set = parseDeclarativeSet(text); })) {
        return 0;
    }
    for (const auto& declared : set) {
        if (!declared.problem.empty()) {
            if (declared.spec != ContainerSpec{}) {
                fuzz::finding("declarative set", "an entry with a problem kept a spec: " + declared.problem);
            }
            continue;
        }
        ContainerSpec again;
        if (!fuzz::onlyContainerError("specFromJson of specToJson",
                                      [&] { again = specFromJson(specToJson(declared.spec)); })) {
            fuzz::finding("declarative set", "specToJson wrote JSON specFromJson refuses");
        }
        if (again != declared.spec) {
            fuzz::finding("declarative set", "specFromJson(specToJson(spec)) differs from spec");
        }
    }
    return 0;
}
