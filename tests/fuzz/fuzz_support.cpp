#include "fuzz_support.h"
#include "temp_settings.h"

#include "container_paths.h"
#include "network_plan.h"
#include "nspawn_command.h"
#include "nspawn_options.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

namespace nixos_containers::fuzz {

namespace {

// Owns the temporary store; the destructor runs at exit(), which is how
// libFuzzer ends a run that found nothing.
class FakeStore {
public:
    FakeStore() {
        auto base = std::filesystem::temp_directory_path() / "nixos-containers-fuzz-XXXXXX";
        std::string templ = base.string();
        if (mkdtemp(templ.data()) == nullptr) {
            std::perror("mkdtemp");
            std::abort();
        }
        root_ = templ;
        // Nothing here may touch the host's real directories.
        settings_ = settingsUnder(root_);
        auto system = settings_.storeDir / std::string(kSystemName);
        std::filesystem::create_directories(system);
        std::ofstream(system / "init") << "#!/bin/sh\n";
    }
    ~FakeStore() {
        std::error_code ignored;
        std::filesystem::remove_all(root_, ignored);
    }
    FakeStore(const FakeStore&) = delete;
    FakeStore& operator=(const FakeStore&) = delete;

    [[nodiscard]] const Settings& get() const { return settings_; }

private:
    std::filesystem::path root_;
    Settings settings_;
};

}  // namespace

// Well-formed: no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        auto byte = static_cast<unsigned char>(text[i]);
        if (byte == 0) {
            return false;
        }
        if (byte < 0x80) {
            ++i;
            continue;
        }
        std::size_t length = 0;
        std::uint32_t code = 0;
        if ((byte & 0xe0) == 0xc0) {
            length = 2;
            code = byte & 0x1f;
        } else if ((byte & 0xf0) == 0xe0) {
            length = 3;
            code = byte & 0x0f;
        } else if ((byte & 0xf8) == 0xf0) {
            length = 4;
            code = byte & 0x07;
        } else {
            return false;
        }
        if (i + length > text.size()) {
            return false;
        }
        for (std::size_t k = 1; k < length; ++k) {
            auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) {
                return false;
            }
            code = (code << 6) | (next & 0x3f);
        }
        const std::uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < minimum[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
            return false;
        }
        i += length;
    }
    return true;
}

namespace {

std::string escaped(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\') {
            out += c;
        } else {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\x%02x", byte);
            out += buffer;
        }
    }
    return out + "\"";
}

std::string describeOptions(const NetworkOptions& options) {
    return "{" + escaped(options.hostAddress) + ", " + escaped(options.localAddress) + ", " +
           escaped(options.hostAddress6) + ", " + escaped(options.localAddress6) + ", " +
           escaped(options.hostBridge) + "}";
}

std::string describeList(const std::vector<std::string>& items) {
    std::string out = "[";
    for (const auto& item : items) {
        out += (out.size() > 1 ? ", " : "") + escaped(item);
    }
    return out + "]";
}

}  // namespace

const Settings& settings() {
    static const FakeStore store;
    return store.get();
}

void finding(std::string_view what, std::string_view details) {
    std::fprintf(stderr, "\n==== FUZZ FINDING in %.*s ====\n%.*s\n", static_cast<int>(what.size()),
                 what.data(), static_cast<int>(details.size()), details.data());
    std::fflush(stderr);
    std::abort();
}

void checkErrorMessage(std::string_view what, const ContainerError& error) {
    // Errors become D-Bus error messages; sd-bus refuses invalid UTF-8.
    if (!isValidUtf8(error.what())) {
        finding(what, "ContainerError message is not valid UTF-8: " + escaped(error.what()));
    }
}

std::string describe(const ContainerSpec& spec) {
    std::string out;
    out += "systemPath=" + escaped(spec.systemPath) + " config=" + escaped(spec.config) +
           " configFile=" + escaped(spec.configFile) + " flake=" + escaped(spec.flake) + "\n";
    out += "privateNetwork=" + std::to_string(spec.privateNetwork) +
           " network=" + describeOptions(spec.network) + "\n";
    out += "forwardPorts=[";
    for (const auto& port : spec.forwardPorts) {
        out += "(" + escaped(port.protocol) + "," + std::to_string(port.hostPort) + "," +
               std::to_string(port.containerPort) + ")";
    }
    out += "]\nbindMounts=[";
    for (const auto& bind : spec.bindMounts) {
        out += "(" + escaped(bind.mountPoint) + "," + escaped(bind.hostPath) + "," +
               std::to_string(bind.readOnly) + ")";
    }
    out += "]\ntmpfs=" + describeList(spec.tmpfs) + " caps=" + describeList(spec.additionalCapabilities);
    out += "\nallowedDevices=[";
    for (const auto& device : spec.allowedDevices) {
        out += "(" + escaped(device.node) + "," + escaped(device.modifier) + ")";
    }
    out += "]\nenableTun=" + std::to_string(spec.enableTun) + " ephemeral=" + std::to_string(spec.ephemeral) +
           " autoStart=" + std::to_string(spec.autoStart) +
           " timeoutStartSec=" + escaped(spec.timeoutStartSec);
    out += "\nextraVeths={";
    for (const auto& [name, options] : spec.extraVeths) {
        out += escaped(name) + ":" + describeOptions(options) + " ";
    }
    out += "}\ninterfaces=" + describeList(spec.interfaces) + " macvlans=" + describeList(spec.macvlans) +
           " extraFlags=" + describeList(spec.extraFlags) + "\n";
    return out;
}

void checkSpecRoundTrip(const ContainerSpec& spec) {
    std::string text;
    ContainerSpec back;
    bool ok = onlyContainerError("spec round trip", [&] {
        text = confFromSpec(spec, {}, "/etc/nixos-containers/fuzz.nix").serialize();
        back = specFromConf(EnvFile::parse(text));
    });
    if (!ok) {
        finding("spec round trip",
                "validateSpec accepted a spec that the conf cannot hold:\n" + describe(spec));
    }
    ContainerSpec expected = spec;
    expected.config.clear();
    for (auto& port : expected.forwardPorts) {
        if (port.containerPort == 0) {
            port.containerPort = port.hostPort;
        }
    }
    if (back != expected) {
        finding("spec round trip", "conf round trip changed an accepted spec\nwanted:\n" +
                                       describe(expected) + "got:\n" + describe(back) + "conf:\n" + text);
    }
}

void checkNspawnArgv(const ContainerSpec& spec) {
    std::optional<NetworkPlan> plan;
    if (!onlyContainerError("planNetwork", [&] { plan = planNetwork("fuzz", spec, settings()); })) {
        return;
    }
    for (int variant = 0; variant < 4; ++variant) {
        NspawnInputs inputs;
        inputs.name = "fuzz";
        inputs.spec = &spec;
        inputs.paths = containerPaths(settings(), "fuzz", spec.ephemeral);
        inputs.systemInContainer = "/nix/store/aaaa-system";
        inputs.network = (variant & 1) != 0 ? plan : std::nullopt;
        inputs.bindNixDb = inputs.bindNixDaemonSocket = (variant & 2) != 0;
        inputs.personalityX86 = (variant & 2) != 0;
        auto argv = buildNspawnArgv(settings(), inputs);
        if (auto problem = nspawnArgvProblem(argv)) {
            std::string words;
            for (const auto& word : argv) {
                words += " " + word;
            }
            finding("nspawn argv",
                    "validateSpec accepted a spec whose nspawn argv nspawn would not take as meant: " +
                        *problem + "\nargv:" + words + "\n" + describe(spec));
        }
    }
}

}  // namespace nixos_containers::fuzz
