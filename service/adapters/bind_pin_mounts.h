#pragma once

#include "bind_pins.h"

namespace nixos_containers {

// BindPinner with mount(2): each bind opened beneath its confined root one
// component at a time (O_PATH | O_NOFOLLOW), and what was opened bound
// (through /proc/self/fd) onto its pin, then made read-only. The pins live
// in the host's mount namespace, which nspawn is started in.
class BindPinMounts final : public BindPinner {
public:
    void pin(const std::filesystem::path& directory, const std::vector<BindPin>& pins) override;
    void unpin(const std::filesystem::path& directory) override;
};

}  // namespace nixos_containers
