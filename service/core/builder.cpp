#include "builder.h"

#include "container_paths.h"
#include "process_output.h"

#include <algorithm>
#include <memory>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kDefaultFlakeAttribute = "container";

ContainerError buildFailed(const ContainerError& error) {
    return {ErrorCode::BuildFailed, error.what()};
}
}  // namespace

void Builder::build(const std::string& name, const ContainerSpec& spec, StatusCallback done) {
    // Directories and the module file (fsync'ed) are made off the loop.
    background_.run(
        name,
        [store = &store_, paths = containerPaths(settings_, name, spec.ephemeral), name, spec] {
            std::error_code error;
            for (const auto& directory : {paths.profileDir, paths.gcrootsDir}) {
                fs::create_directories(directory, error);
                if (error) {
                    throw ContainerError(ErrorCode::IOError,
                                         "cannot create '" + directory.string() + "': " + error.message());
                }
            }
            if (!spec.config.empty()) {
                store->saveConfigText(name, spec.config);
            }
        },
        [this, name, spec, done = std::move(done)](const Status& prepared) {
            if (!prepared.ok()) {
                done(buildFailed(prepared.error()));
                return;
            }
            runBuilder(name, spec, done);
        });
}

ProcessRequest Builder::builderRequest(const std::string& name, const ContainerSpec& spec) const {
    const auto paths = containerPaths(settings_, name, spec.ephemeral);
    ProcessRequest request;
    if (!spec.flake.empty()) {
        // As nixos-container: nixosConfigurations.container unless the URI
        // names another, so flakes written for it build the same system.
        auto hash = spec.flake.find('#');
        auto ref = spec.flake.substr(0, hash);
        auto attribute =
            hash == std::string::npos ? std::string(kDefaultFlakeAttribute) : spec.flake.substr(hash + 1);
        request.argv = {(settings_.nixBinDir / "nix").string(),
                        "build",
                        "--profile",
                        paths.systemLink.string(),
                        "--",
                        ref + "#nixosConfigurations.\"" + attribute + "\".config.system.build.toplevel"};
    } else {
        // Module text lives where the conf points at it (written by build()).
        auto moduleFile = spec.config.empty() ? spec.configFile : paths.configTextFile.string();
        request.argv = {(settings_.nixBinDir / "nix-env").string(),
                        "-p",
                        paths.systemLink.string(),
                        "-I",
                        "nixos-config=" + moduleFile,
                        "-f",
                        spec.nixosPath.empty() ? settings_.nixosPath : spec.nixosPath,
                        "--set",
                        "-A",
                        "system"};
    }
    // Nix's own flags: nix-env takes them anywhere; `nix build` after its
    // subcommand, before the installable.
    auto flagsAt = spec.flake.empty() ? request.argv.begin() + 1
                                      : std::find(request.argv.begin(), request.argv.end(), "--");
    request.argv.insert(flagsAt, spec.nixFlags.begin(), spec.nixFlags.end());
    request.environment = settings_.builderEnvironment;
    return request;
}

void Builder::runBuilder(const std::string& name, const ContainerSpec& spec, StatusCallback done) {
    const auto systemLink = containerPaths(settings_, name, spec.ephemeral).systemLink;
    auto request = builderRequest(name, spec);
    auto tail = std::make_shared<OutputTail>();
    const auto builder = request.argv.front();
    processes_.run(
        request,
        [this, name, tail](const std::string& line) {
            tail->add(line);
            output_(name, line);
        },
        [this, systemLink, builder, tail, done = std::move(done)](const Outcome<ProcessExit>& exit) {
            if (!exit.ok()) {
                done(buildFailed(exit.error()));
                return;
            }
            if (!exit.value().success()) {
                done(ContainerError(
                    ErrorCode::BuildFailed,
                    "builder " + builder + " " + describeExit(exit.value()) + ": " + tail->text()));
                return;
            }
            try {
                auto system = locateSystem(settings_, fs::canonical(systemLink).native());
                if (!fs::exists(system.onHost / "init")) {
                    throw ContainerError(ErrorCode::BuildFailed,
                                         "the built system " + system.onHost.string() + " has no init");
                }
            } catch (const fs::filesystem_error& error) {
                done(ContainerError(ErrorCode::BuildFailed, "builder " + builder + " left no system at " +
                                                                systemLink.string() + ": " +
                                                                error.code().message()));
                return;
            } catch (const ContainerError& error) {
                done(buildFailed(error));
                return;
            }
            done(Done{});
        });
}

}  // namespace nixos_containers
