#pragma once

#include "background_queue.h"
#include "container_spec.h"
#include "container_store.h"
#include "settings.h"
#include "system_seams.h"

#include <functional>
#include <string>

namespace nixos_containers {

// Builds a container's system from Config, ConfigFile or Flake into its
// profile, as nixos-container does, streaming the builder's output.
class Builder {
public:
    using OutputSink = std::function<void(const std::string& container, const std::string& line)>;

    Builder(const Settings& settings, const ContainerStore& store, ProcessRunner& processes,
            BackgroundQueue& background, OutputSink output)
        : settings_(settings),
          store_(store),
          processes_(processes),
          background_(background),
          output_(std::move(output)) {}

    // Fails with BuildFailed, naming the builder's last lines.
    void build(const std::string& name, const ContainerSpec& spec, StatusCallback done);

private:
    void runBuilder(const std::string& name, const ContainerSpec& spec, StatusCallback done);
    [[nodiscard]] ProcessRequest builderRequest(const std::string& name, const ContainerSpec& spec) const;

    const Settings& settings_;
    const ContainerStore& store_;
    ProcessRunner& processes_;
    BackgroundQueue& background_;
    OutputSink output_;
};

}  // namespace nixos_containers
