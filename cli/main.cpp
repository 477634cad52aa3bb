// nixos-container: a client of org.nixos.Containers (see --help).
#include "bus_client.h"
#include "command_line.h"

#include <iostream>

using namespace nixos_containers::cli;

int main(int argc, char** argv) {
    try {
        auto options = parseCommandLine(argc, argv);
        // For the build (the man page) and the bash completion.
        if (options.words.size() == 1 && options.words[0] == "_man") {
            std::cout << manPage();
            return kExitOk;
        }
        if (options.words.size() == 2 && options.words[0] == "_complete") {
            std::cout << completionWords(options.words[1]);
            return kExitOk;
        }
        if (options.help) {
            const auto* verb = options.words.empty() ? nullptr : findVerb(options.words[0]);
            std::cout << (verb != nullptr ? verbHelpText(*verb) : helpText());
            return kExitOk;
        }
        if (options.words.empty()) {
            throw CliError{kExitUsage, "no action specified; see --help"};
        }
        const auto* verb = findVerb(options.words[0]);
        if (verb == nullptr) {
            throw CliError{kExitUsage, "unknown action '" + options.words[0] + "'; see --help"};
        }
        BusClient bus(ConnectOptions{options.host.value_or(""), options.askPassword});
        return verb->handler(bus, options);
    } catch (const CliError& error) {
        std::cerr << "nixos-container: " << error.message << "\n";
        return error.code;
    } catch (const sdbus::Error& error) {
        const auto reported = cliErrorOf(error);
        std::cerr << "nixos-container: " << reported.message << "\n";
        return reported.code;
    } catch (const std::exception& error) {
        std::cerr << "nixos-container: " << error.what() << "\n";
        return kExitFailed;
    }
}
