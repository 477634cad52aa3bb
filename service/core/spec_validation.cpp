#include "spec_validation.h"

#include "errors.h"
#include "spec_keys.h"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace nixos_containers {

namespace {

// Every string and list of one key's value within the key's limits.
class SizeCheck {
public:
    explicit SizeCheck(const SpecKey& key) : key_(key) {}

    void operator()(const std::string& text) const { check(text); }
    void operator()(bool /*flag*/) const {}
    void operator()(const std::vector<std::string>& words) const {
        entries(words.size());
        for (const auto& word : words) {
            check(word);
        }
    }
    void operator()(const std::vector<PortForward>& ports) const {
        entries(ports.size());
        for (const auto& port : ports) {
            check(port.protocol);
        }
    }
    void operator()(const std::vector<BindMount>& binds) const {
        entries(binds.size());
        for (const auto& bind : binds) {
            check(bind.mountPoint);
            check(bind.hostPath);
        }
    }
    void operator()(const std::vector<AllowedDevice>& devices) const {
        entries(devices.size());
        for (const auto& device : devices) {
            check(device.node);
            check(device.modifier);
        }
    }
    void operator()(const std::map<std::string, NetworkOptions>& veths) const {
        entries(veths.size());
        for (const auto& [name, options] : veths) {
            check(name);
            for (const auto& field : networkOptionFields()) {
                check(options.*field.member);
            }
        }
    }

private:
    void check(const std::string& text) const {
        if (text.size() > key_.maxBytes) {
            throw ContainerError(ErrorCode::LimitsExceeded, std::string(key_.busName) + " has a value of " +
                                                                std::to_string(text.size()) +
                                                                " bytes; the limit is " +
                                                                std::to_string(key_.maxBytes));
        }
    }
    void entries(std::size_t count) const {
        if (count > kMaxSpecListEntries) {
            throw ContainerError(ErrorCode::LimitsExceeded,
                                 std::string(key_.busName) + " has " + std::to_string(count) +
                                     " entries; the limit is " + std::to_string(kMaxSpecListEntries));
        }
    }
    const SpecKey& key_;
};

}  // namespace

void validateSpec(const ContainerSpec& spec, const Settings& settings) {
    // Validation runs on every decoded request and is fuzzed: whatever a
    // helper throws leaves here as a ContainerError.
    try {
        // Sizes first: no check below reads an unbounded value.
        for (const auto& key : specKeys()) {
            std::visit(SizeCheck(key), key.get(spec));
        }
        std::vector<SpecCheck> done;
        for (const auto& key : specKeys()) {
            if (key.validate != nullptr && std::find(done.begin(), done.end(), key.validate) == done.end()) {
                done.push_back(key.validate);
                key.validate(spec, settings);
            }
        }
    } catch (const ContainerError&) {
        throw;
    } catch (const std::bad_alloc&) {
        throw ContainerError(ErrorCode::Failed, "out of memory while validating the spec");
    } catch (const std::exception& error) {
        throwInvalid(std::string("invalid spec: ") + error.what());
    }
}

}  // namespace nixos_containers
