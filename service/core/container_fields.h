#pragma once

#include <cstdint>
#include <initializer_list>

namespace nixos_containers {

// What the core tells its observer changed on a container, typed: the bus
// layer alone knows which D-Bus properties each field is shown as.
enum class ContainerField : std::uint8_t {
    State,
    Leader,
    Addresses,
    HostInterface,
    Unit,
    RootDirectory,
    Spec,         // any spec key: every key-backed property
    Generations,  // the profile's generations
};

class ContainerFields {
public:
    ContainerFields() = default;
    ContainerFields(std::initializer_list<ContainerField> fields) {
        for (auto field : fields) {
            bits_ |= bit(field);
        }
    }
    void add(ContainerField field) { bits_ |= bit(field); }
    [[nodiscard]] bool has(ContainerField field) const { return (bits_ & bit(field)) != 0; }
    [[nodiscard]] bool empty() const { return bits_ == 0; }

private:
    static std::uint32_t bit(ContainerField field) { return 1U << static_cast<unsigned>(field); }
    std::uint32_t bits_ = 0;
};

}  // namespace nixos_containers
