#include "command_line.h"

#include "bus_client.h"

#include <algorithm>
#include <sstream>

namespace nixos_containers::cli {

const std::vector<FlagRow>& flagTable() {
    using K = FlagKind;
    static const std::vector<FlagRow> kFlags = {
        {"help", 'h', "", "", "Print this help.", K::On, nullptr, &Options::help},
        {"host", 'H', "[USER@]HOST", "", "Talk to the service of HOST, over SSH (as busctl -H).", K::Value,
         &Options::host},
        {"no-ask-password", 0, "", "", "Do not ask for a password when polkit wants one; fail instead.",
         K::Off, nullptr, &Options::askPassword},
        {"json", 0, "", "list show", "Print JSON.", K::On, nullptr, &Options::json},
        {"lines", 'n', "N", "logs", "Print the last N entries first (default 100, at most 100000).", K::Value,
         &Options::lines},
        {"follow", 'f', "", "logs", "Then print new entries as they come, until interrupted.", K::On, nullptr,
         &Options::follow},
        {"system-path", 0, "PATH", "create update", "The built NixOS system to run.", K::Value,
         &Options::systemPath},
        {"config", 0, "TEXT", "create update", "NixOS module text to build the system from.", K::Value,
         &Options::config},
        {"config-file", 0, "FILE", "create update", "A NixOS module file to build the system from.", K::Value,
         &Options::configFile},
        {"flake", 0, "URI", "create update",
         "A flake; the attribute is nixosConfigurations.container unless URI has #NAME.", K::Value,
         &Options::flake},
        {"nixos-path", 0, "PATH", "create update",
         "The nixos directory to build --config/--config-file with.", K::Value, &Options::nixosPath},
        {"ensure-unique-name", 0, "", "create", "Pick a free name from NAME.", K::On, nullptr,
         &Options::ensureUniqueName},
        {"auto-start", 0, "", "create", "Start the container whenever the service starts.", K::On, nullptr,
         &Options::autoStart},
        {"bridge", 0, "IFACE", "create", "Put the host side of the veth into bridge IFACE.", K::Value,
         &Options::bridge},
        {"port", 0, "PORTS", "create", "Forward ports, [PROTO:]HOST[:CONTAINER], comma-separated.", K::Value,
         &Options::port},
        {"host-address", 0, "ADDR", "create", "The host side's IPv4 address (with --local-address).",
         K::Value, &Options::hostAddress},
        {"local-address", 0, "ADDR", "create", "The container's IPv4 address (with --host-address).",
         K::Value, &Options::localAddress},
        {"signal", 0, "SIGNAL", "", "Accepted and ignored, as by the old tool.", K::Ignored},
        {"log-format", 0, "FORMAT", "create update", "Nix pass-through.", K::NixPassThrough},
        {"option", 0, "NAME VALUE", "create update", "Nix pass-through.", K::NixPassThrough},
        {"impure", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
        {"update-input", 0, "INPUT", "create update", "Nix pass-through.", K::NixPassThrough},
        {"override-input", 0, "INPUT URI", "create update", "Nix pass-through.", K::NixPassThrough},
        {"commit-lock-file", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
        {"no-registries", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
        {"no-update-lock-file", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
        {"no-write-lock-file", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
        {"no-allow-dirty", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
        {"recreate-lock-file", 0, "", "create update", "Nix pass-through.", K::NixPassThrough},
    };
    return kFlags;
}

int FlagRow::values() const {
    if (metavar.empty()) {
        return 0;
    }
    return 1 + static_cast<int>(std::count(metavar.begin(), metavar.end(), ' '));
}

bool FlagRow::isFor(std::string_view verb) const {
    if (verbs.empty()) {
        return true;
    }
    std::istringstream words{std::string(verbs)};
    std::string word;
    while (words >> word) {
        if (word == verb) {
            return true;
        }
    }
    return false;
}

const VerbRow* findVerb(std::string_view name) {
    const auto& verbs = verbTable();
    auto found =
        std::find_if(verbs.begin(), verbs.end(), [name](const VerbRow& row) { return row.name == name; });
    return found == verbs.end() ? nullptr : &*found;
}

namespace {

// "[create, update] " before a flag's help when it is for some verbs only.
std::string flagDescription(const FlagRow& flag) {
    if (flag.verbs.empty()) {
        return std::string(flag.help);
    }
    std::string verbs(flag.verbs);
    for (auto space = verbs.find(' '); space != std::string::npos; space = verbs.find(' ', space + 2)) {
        verbs.replace(space, 1, ", ");
    }
    return "[" + verbs + "] " + std::string(flag.help);
}

std::string flagLine(const FlagRow& flag, const std::string& description) {
    std::string left = "  ";
    left += flag.shortName != 0 ? std::string("-") + flag.shortName + ", " : "";
    left += "--" + std::string(flag.name) + (flag.metavar.empty() ? "" : " " + std::string(flag.metavar));
    return left + std::string(left.size() < 34 ? 34 - left.size() : 1, ' ') + description + "\n";
}

const FlagRow* findFlag(std::string_view name) {
    for (const auto& row : flagTable()) {
        if (row.name == name || (name.size() == 1 && row.shortName == name[0])) {
            return &row;
        }
    }
    return nullptr;
}

void setFlag(Options& options, const FlagRow& row, const std::vector<std::string>& values) {
    switch (row.kind) {
        case FlagKind::Value:
            options.*row.value = values.at(0);
            break;
        case FlagKind::On:
            options.*row.toggle = true;
            break;
        case FlagKind::Off:
            options.*row.toggle = false;
            break;
        case FlagKind::NixPassThrough:
            options.nixFlags.push_back("--" + std::string(row.name));
            options.nixFlags.insert(options.nixFlags.end(), values.begin(), values.end());
            break;
        case FlagKind::Ignored:
            break;
    }
}

}  // namespace

Options parseCommandLine(int argc, char** argv) {
    Options options;
    bool flagsEnded = false;
    for (int i = 1; i < argc; ++i) {
        std::string word = argv[i];
        if (flagsEnded || word.size() < 2 || word[0] != '-') {
            options.words.push_back(word);
            continue;
        }
        if (word == "--") {
            // The old tool's `run NAME -- ARGS`: everything after is the command.
            flagsEnded = true;
            options.words.push_back(word);
            continue;
        }
        std::string name;
        std::optional<std::string> inlineValue;
        if (word.starts_with("--")) {
            name = word.substr(2);
            if (auto equals = name.find('='); equals != std::string::npos) {
                inlineValue = name.substr(equals + 1);
                name.resize(equals);
            }
        } else {
            name = word.substr(1, 1);
            if (word.size() > 2) {
                inlineValue = word.substr(2);
            }
        }
        const auto* row = findFlag(name);
        if (row == nullptr) {
            throw CliError{kExitUsage, "unknown option '" + word + "'; see --help"};
        }
        std::vector<std::string> values;
        if (inlineValue) {
            if (row->values() == 0) {
                throw CliError{kExitUsage, "option '--" + std::string(row->name) + "' takes no value"};
            }
            values.push_back(*inlineValue);
        }
        while (static_cast<int>(values.size()) < row->values()) {
            if (++i >= argc) {
                throw CliError{kExitUsage, "option '--" + std::string(row->name) + "' needs " +
                                               std::string(row->metavar)};
            }
            values.emplace_back(argv[i]);
        }
        setFlag(options, *row, values);
    }
    return options;
}

namespace {

// The exit statuses every verb shares, then each verb's own.
std::string exitStatusText(const VerbRow* only = nullptr) {
    std::string out =
        "\nExit status:\n"
        "  0 success; 1 other failure; 2 bad command line; 3 no such container (status: gone);\n"
        "  4 access denied or authentication required; 5 invalid argument, name in use, or\n"
        "  declarative container; 6 busy or too much in flight; 7 container not running, or\n"
        "  without systemd inside (login, root-login at a terminal); 8 the service is not running\n"
        "  or cannot be reached.\n";
    for (const auto& verb : verbTable()) {
        if (!verb.exits.empty() && (only == nullptr || only == &verb)) {
            out += "  " + std::string(verb.name) + ": " + std::string(verb.exits) + "\n";
        }
    }
    return out;
}

}  // namespace

std::string helpText() {
    std::ostringstream out;
    out << "Usage: nixos-container [OPTIONS] VERB [NAME] ...\n\n"
           "Manages NixOS containers through the org.nixos.Containers service, as any user polkit lets.\n\n"
           "Verbs:\n";
    for (const auto& verb : verbTable()) {
        out << "  " << verb.name << (verb.synopsis.empty() ? "" : " ") << verb.synopsis << "\n      "
            << verb.help << "\n";
    }
    out << "\nOptions:\n";
    for (const auto& flag : flagTable()) {
        out << flagLine(flag, flagDescription(flag));
    }
    out << "\nNix pass-through flags go to the service's build (NixFlags), which checks them.\n"
        << exitStatusText();
    return out.str();
}

std::string verbHelpText(const VerbRow& verb) {
    std::ostringstream out;
    out << "Usage: nixos-container [OPTIONS] " << verb.name << (verb.synopsis.empty() ? "" : " ")
        << verb.synopsis << "\n\n"
        << verb.help << "\n\nOptions:\n";
    for (const auto& flag : flagTable()) {
        if (flag.isFor(verb.name)) {
            out << flagLine(flag, std::string(flag.help));
        }
    }
    out << exitStatusText(&verb) << "\nnixos-container --help lists every verb.\n";
    return out.str();
}

std::string manPage() {
    auto escape = [](std::string_view text) {
        std::string out;
        for (char c : text) {
            out += c == '-' ? std::string("\\-") : c == '\\' ? std::string("\\\\") : std::string(1, c);
        }
        return out;
    };
    std::ostringstream out;
    out << ".TH NIXOS-CONTAINER 1\n.SH NAME\nnixos\\-container \\- manage NixOS containers through "
           "org.nixos.Containers\n.SH SYNOPSIS\n.B nixos\\-container\n[OPTIONS] VERB [NAME] ...\n"
           ".SH DESCRIPTION\nA client of the org.nixos.Containers D\\-Bus service: it runs as any user that "
           "polkit lets manage containers, and starts a text authentication agent when polkit asks for a "
           "password and standard input is a terminal.\n.SH VERBS\n";
    for (const auto& verb : verbTable()) {
        out << ".TP\n.B " << escape(verb.name) << " " << escape(verb.synopsis) << "\n"
            << escape(verb.help) << "\n";
    }
    out << ".SH OPTIONS\n";
    for (const auto& flag : flagTable()) {
        out << ".TP\n.B \\-\\-" << escape(flag.name) << (flag.metavar.empty() ? "" : " ")
            << escape(flag.metavar) << "\n"
            << escape(flagDescription(flag)) << "\n";
    }
    out << ".SH EXIT STATUS\n";
    const auto help = helpText();
    auto status = help.substr(help.find("Exit status:\n") + 13);
    out << escape(status);
    return out.str();
}

std::string completionWords(std::string_view what) {
    std::string out;
    if (what == "verbs") {
        for (const auto& verb : verbTable()) {
            out += std::string(verb.name) + "\n";
        }
    } else if (what == "flags") {
        for (const auto& flag : flagTable()) {
            out += "--" + std::string(flag.name) + "\n";
        }
    } else if (what == "values") {
        for (const auto& flag : flagTable()) {
            if (flag.values() == 0) {
                continue;
            }
            out += "--" + std::string(flag.name) + " " + std::string(flag.metavar) + "\n";
            if (flag.shortName != 0) {
                out += std::string("-") + flag.shortName + " " + std::string(flag.metavar) + "\n";
            }
        }
    }
    return out;
}

}  // namespace nixos_containers::cli
