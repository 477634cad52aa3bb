#include "command_line.h"

#include "bus_client.h"
#include "relay.h"
#include "terminal.h"

#include <sys/ioctl.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

namespace nixos_containers::cli {

namespace {

using Spec = std::map<std::string, sdbus::Variant>;
constexpr const char* kContainerInterface = "org.nixos.Containers.Container";
constexpr const char* kAlreadyExists = "org.nixos.Containers.Error.AlreadyExists";
constexpr const char* kNoSuchContainer = "org.nixos.Containers.Error.NoSuchContainer";

const std::string& containerName(const Options& options) {
    if (options.words.size() < 2 || options.words[1] == "--") {
        throw CliError{kExitUsage, "no container name specified"};
    }
    return options.words[1];
}

void noMoreWords(const Options& options, std::size_t expected) {
    if (options.words.size() > expected) {
        throw CliError{kExitUsage, "unexpected argument '" + options.words[expected] + "'"};
    }
}

// A property of the container NAME (through its object).
template <typename T>
T containerProperty(BusClient& bus, const std::string& name, const std::string& property) {
    return onBus([&]() -> T {
        const auto path = bus.manager().GetContainer(name);
        auto proxy = bus.objectProxy(path);
        proxy->finishRegistration();
        sdbus::Variant value = proxy->getProperty(property).onInterface(kContainerInterface);
        return value.get<T>();
    });
}

// The source keys of a create or update, from the flags.
Spec sourceSpec(const Options& options) {
    if (options.config && options.configFile) {
        throw CliError{kExitUsage,
                       "--config and --config-file are mutually incompatible; give one or the other"};
    }
    Spec spec;
    if (options.systemPath) {
        spec["SystemPath"] = *options.systemPath;
    }
    if (options.config) {
        spec["Config"] = *options.config;
    }
    if (options.configFile) {
        // The service reads the file: a path relative to here means nothing there.
        char resolved[PATH_MAX];
        if (::realpath(options.configFile->c_str(), resolved) == nullptr) {
            throw CliError{kExitUsage, "cannot resolve --config-file '" + *options.configFile + "'"};
        }
        spec["ConfigFile"] = std::string(resolved);
    }
    if (!options.nixFlags.empty()) {
        spec["NixFlags"] = options.nixFlags;  // the service checks them as Nix parses them
    }
    if (options.nixosPath) {
        char resolved[PATH_MAX];
        if (::realpath(options.nixosPath->c_str(), resolved) == nullptr) {
            throw CliError{kExitUsage, "cannot resolve --nixos-path '" + *options.nixosPath + "'"};
        }
        spec["NixosPath"] = std::string(resolved);
    }
    if (options.flake) {
        spec["Flake"] = *options.flake;  // the service defaults the attribute to "container", as the old tool
    }
    return spec;
}

// "[PROTO:]HOST[:CONTAINER]", comma-separated, as nspawn's --port.
std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>> parsePorts(const std::string& text) {
    std::vector<sdbus::Struct<std::string, std::uint16_t, std::uint16_t>> ports;
    auto number = [&text](const std::string& word) -> std::uint16_t {
        char* end = nullptr;
        auto value = std::strtoul(word.c_str(), &end, 10);
        if (word.empty() || *end != '\0' || value == 0 || value > 65535) {
            throw CliError{kExitUsage, "--port '" + text + "': '" + word + "' is not a port"};
        }
        return static_cast<std::uint16_t>(value);
    };
    std::size_t start = 0;
    while (start <= text.size()) {
        auto comma = text.find(',', start);
        std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        std::vector<std::string> parts;
        std::size_t from = 0;
        for (auto colon = item.find(':');; colon = item.find(':', from)) {
            parts.push_back(item.substr(from, colon == std::string::npos ? std::string::npos : colon - from));
            if (colon == std::string::npos) {
                break;
            }
            from = colon + 1;
        }
        std::string protocol = "tcp";
        if (!parts.empty() && (parts[0] == "tcp" || parts[0] == "udp")) {
            protocol = parts[0];
            parts.erase(parts.begin());
        }
        if (parts.empty() || parts.size() > 2) {
            throw CliError{kExitUsage,
                           "--port '" + text + "': '" + item + "' is not [PROTO:]HOST[:CONTAINER]"};
        }
        auto host = number(parts[0]);
        ports.emplace_back(protocol, host, parts.size() == 2 ? number(parts[1]) : host);
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return ports;
}

// Build output as it comes: a progress line on a terminal, plain lines in a pipe.
class BuildLog {
public:
    explicit BuildLog(BusClient& bus) : bus_(bus), terminal_(::isatty(STDERR_FILENO) == 1) {
        bus_.manager().onBuildLine = [this](const std::string& name, const std::string& line) {
            std::lock_guard lock(mutex_);
            if (!name_.empty() && name != name_) {
                return;
            }
            if (!terminal_) {
                std::cerr << line << "\n";
                return;
            }
            winsize size{};
            std::size_t width =
                ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 10 ? size.ws_col : 80;
            std::string shown = "building " + name + ": " + line;
            if (shown.size() >= width) {
                shown.resize(width - 1);
            }
            std::cerr << "\r\033[K" << shown << std::flush;
            shown_ = true;
        };
        bus_.connection().enterEventLoopAsync();
    }
    ~BuildLog() {
        bus_.connection().leaveEventLoop();
        bus_.manager().onBuildLine = nullptr;
        if (shown_) {
            std::cerr << "\r\033[K" << std::flush;
        }
    }
    BuildLog(const BuildLog&) = delete;
    BuildLog& operator=(const BuildLog&) = delete;
    void follow(const std::string& name) {
        std::lock_guard lock(mutex_);
        name_ = name;
    }

private:
    BusClient& bus_;
    bool terminal_;
    bool shown_ = false;
    std::string name_;
    std::mutex mutex_;
};

std::string withoutPrefix(const std::string& address) {
    return address.substr(0, address.find('/'));
}

int list(BusClient& bus, const Options& options) {
    noMoreWords(options, 1);
    auto rows = onBus([&] { return bus.manager().List(); });
    if (options.json) {
        auto out = nlohmann::json::array();
        for (const auto& row : rows) {
            out.push_back({{"name", row.get<0>()},
                           {"state", row.get<1>()},
                           {"declarative", row.get<2>()},
                           {"object", std::string(row.get<3>())}});
        }
        std::cout << out.dump(2) << "\n";
        return kExitOk;
    }
    for (const auto& row : rows) {
        std::cout << row.get<0>() << "\n";
    }
    return kExitOk;
}

int create(BusClient& bus, const Options& options) {
    auto name = containerName(options);
    noMoreWords(options, 2);
    if (options.hostAddress.has_value() != options.localAddress.has_value()) {
        throw CliError{kExitUsage, "with --host-address set, --local-address is required as well"};
    }
    Spec spec = sourceSpec(options);
    if (spec.empty()) {
        // The old tool builds <nixpkgs/nixos> with no configuration of its own.
        spec["Config"] = std::string("# made by nixos-container create without a configuration\n");
    }
    spec["PrivateNetwork"] = true;
    if (options.bridge) {
        spec["HostBridge"] = *options.bridge;
    }
    if (options.hostAddress) {
        spec["HostAddress"] = *options.hostAddress;
        spec["LocalAddress"] = *options.localAddress;
    }
    if (options.port) {
        spec["ForwardPorts"] = parsePorts(*options.port);
    }
    if (options.autoStart) {
        spec["AutoStart"] = true;
    }
    bus.startAgentIfUseful();
    BuildLog log(bus);
    const std::string base = name;
    for (int attempt = 0;; ++attempt) {
        log.follow(name);
        try {
            bus.manager().Create(name, spec);
            break;
        } catch (const sdbus::Error& error) {
            if (!options.ensureUniqueName || error.getName() != kAlreadyExists || attempt > 10000) {
                throw cliErrorOf(error);
            }
            name = base + "-" + std::to_string(attempt);
        }
    }
    auto host = containerProperty<std::string>(bus, name, "HostAddress");
    auto local = containerProperty<std::string>(bus, name, "LocalAddress");
    if (!host.empty() && !local.empty()) {
        std::cerr << "host IP is " << withoutPrefix(host) << ", container IP is " << withoutPrefix(local)
                  << "\n";
    }
    if (options.ensureUniqueName) {
        std::cout << name << "\n";
    }
    return kExitOk;
}

int destroy(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    bus.startAgentIfUseful();
    try {
        bus.manager().Destroy(name);
    } catch (const sdbus::Error& error) {
        // As the old tool: destroying what is not there is no error.
        if (error.getName() != kNoSuchContainer) {
            throw cliErrorOf(error);
        }
    }
    return kExitOk;
}

// The service's bound on the set (kMaxDeclarativeSetBytes): a bigger file is
// refused here, before it is read whole.
constexpr std::streamsize kMaxDeclarativeSetBytes = std::streamsize{32} << 20;

int applyDeclarative(BusClient& bus, const Options& options) {
    if (options.words.size() < 2) {
        throw CliError{kExitUsage, "no declarative set file specified"};
    }
    noMoreWords(options, 2);
    const auto& path = options.words[1];
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw CliError{kExitFailed, "cannot open '" + path + "'"};
    }
    std::string text;
    std::array<char, 65536> chunk{};
    while (file.read(chunk.data(), chunk.size()) || file.gcount() > 0) {
        text.append(chunk.data(), static_cast<std::size_t>(file.gcount()));
        if (text.size() > static_cast<std::size_t>(kMaxDeclarativeSetBytes)) {
            throw CliError{kExitInvalid, "'" + path + "' is larger than 32 MiB"};
        }
    }
    if (file.bad()) {
        throw CliError{kExitFailed, "cannot read '" + path + "'"};
    }
    auto outcomes = onBus([&] { return bus.manager().ApplyDeclarative(text); });
    bool failed = false;
    for (const auto& outcome : outcomes) {
        const auto& name = outcome.get<0>();
        const auto& result = outcome.get<1>();
        const auto& error = outcome.get<2>();
        const auto& message = outcome.get<3>();
        const bool ok = error.empty();
        failed = failed || !ok;
        (ok ? std::cout : std::cerr) << name << " " << result
                                     << (message.empty() ? ""
                                                         : ": " + (ok ? message : error + ": " + message))
                                     << "\n";
    }
    return failed ? kExitFailed : kExitOk;
}

template <void (org::nixos::Containers_proxy::*Method)(const std::string&)>
int simpleVerb(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    bus.startAgentIfUseful();
    onBus([&] { (bus.manager().*Method)(name); });
    return kExitOk;
}

int status(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    try {
        auto state = containerProperty<std::string>(bus, name, "State");
        std::cout << (state == "running" ? "up" : "down") << "\n";
    } catch (const CliError& error) {
        if (error.code != kExitNoSuchContainer) {
            throw;
        }
        std::cout << "gone\n";
        throw;
    }
    return kExitOk;
}

int update(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    // Without a flag, an Update naming no key: as the old tool, the service
    // rebuilds from the container's own source (or its etc/nixos/configuration.nix),
    // or says it has none.
    Spec changes = sourceSpec(options);
    const bool running = containerProperty<std::string>(bus, name, "State") == "running";
    bus.startAgentIfUseful();
    {
        BuildLog log(bus);
        log.follow(name);
        onBus([&] { bus.manager().Update(name, changes); });
    }
    if (running) {
        std::cerr << "reloading container...\n";
    }
    return kExitOk;
}

std::vector<std::string> terminalEnvironment() {
    const char* term = std::getenv("TERM");
    return term != nullptr ? std::vector<std::string>{std::string("TERM=") + term}
                           : std::vector<std::string>{};
}

int login(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    bus.startAgentIfUseful();
    auto [master, path] = onBus([&] { return bus.manager().OpenLogin(name); });
    attachTerminal(master.get(), name, SessionEnd::EscapeOnly);
    return kExitOk;
}

// COMMAND through Run, with this process's stdin, stdout and stderr, a
// terminal among them relayed through a pipe (relay.h); the exit status is
// the command's, or 128+N when signal N killed it, as shells report it.
int runRelayed(BusClient& bus, const std::string& name, const std::vector<std::string>& command) {
    StdioRelay relay(bus.agentRunning());
    auto [status, signal] = [&] {
        // Run gets copies of these: ours close once it answered, so the
        // relay then reads the command's pipes to their end.
        sdbus::UnixFd in(relay.forCommand(0)), out(relay.forCommand(1)), err(relay.forCommand(2));
        relay.start();
        return onBus([&] { return bus.manager().Run(name, command, {}, in, out, err); });
    }();
    relay.finish();
    return signal != 0 ? 128 + signal : status;
}

// Root's login shell as OpenShell (machined) starts it for root: /bin/sh
// execs the shell of root's passwd entry (Run sets SHELL from it) as a
// login shell.
const std::vector<std::string> kRootLoginShell = {"/bin/sh", "-c", "exec \"${SHELL:-/bin/sh}\" -l"};

int rootLogin(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    bus.startAgentIfUseful();
    if (::isatty(STDIN_FILENO) != 1) {
        // Nobody types: the shell reads stdin as a script, and its status
        // is the verb's, as with the old tool. Run answers that status; a
        // terminal (OpenShell) cannot.
        return runRelayed(bus, name, kRootLoginShell);
    }
    auto [master, path] =
        onBus([&] { return bus.manager().OpenShell(name, "root", "", {}, terminalEnvironment()); });
    attachTerminal(master.get(), name, SessionEnd::Hangup);
    return kExitOk;
}

int run(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    std::vector<std::string> command(options.words.begin() + 2, options.words.end());
    if (!command.empty() && command.front() == "--") {
        command.erase(command.begin());
    }
    if (command.empty()) {
        throw CliError{kExitUsage, "run needs a command: nixos-container run NAME -- COMMAND [ARGS...]"};
    }
    bus.startAgentIfUseful();
    return runRelayed(bus, name, command);
}

int showIp(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    auto address = containerProperty<std::string>(bus, name, "LocalAddress");
    if (address.empty()) {
        address = containerProperty<std::string>(bus, name, "LocalAddress6");
    }
    if (address.empty()) {
        throw CliError{kExitFailed, "cannot get IP address of container '" + name + "': it has none"};
    }
    std::cout << withoutPrefix(address) << "\n";
    return kExitOk;
}

int showHostKey(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    std::cout << onBus([&] { return bus.manager().GetHostKey(name); });
    return kExitOk;
}

// logs: the service's stream of the container's journal, copied to stdout.
int logs(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    std::uint32_t lines = 100;
    if (options.lines) {
        const auto& text = *options.lines;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), lines);
        if (error != std::errc{} || end != text.data() + text.size()) {
            throw CliError{kExitUsage, "--lines wants a number, not '" + text + "'"};
        }
    }
    bus.startAgentIfUseful();
    auto stream = onBus([&] { return bus.manager().OpenLogs(name, lines, options.follow); });
    std::array<char, 65536> buffer{};
    for (;;) {
        const auto got = ::read(stream.get(), buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break;
        }
        std::cout.write(buffer.data(), got);
        std::cout.flush();
    }
    return kExitOk;
}

int show(BusClient& bus, const Options& options) {
    const auto& name = containerName(options);
    noMoreWords(options, 2);
    auto text = onBus([&] { return bus.manager().Inspect(name); });
    auto json = nlohmann::json::parse(text);
    if (options.json) {
        std::cout << json.dump(2) << "\n";
        return kExitOk;
    }
    for (const auto& [key, value] : json.items()) {
        std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
    }
    return kExitOk;
}

// watch: a line per state change, from each container's PropertiesChanged.
int watch(BusClient& bus, const Options& options) {
    noMoreWords(options, 1);
    std::map<std::string, std::unique_ptr<sdbus::IProxy>> objects;
    auto follow = [&](const std::string& name, const std::string& path) {
        auto proxy = bus.objectProxy(path);
        proxy->uponSignal("PropertiesChanged")
            .onInterface("org.freedesktop.DBus.Properties")
            .call([name](const std::string&, const std::map<std::string, sdbus::Variant>& changed,
                         const std::vector<std::string>&) {
                if (auto state = changed.find("State"); state != changed.end()) {
                    std::cout << name << " " << state->second.get<std::string>() << std::endl;
                }
            });
        proxy->finishRegistration();
        objects[name] = std::move(proxy);
    };
    bus.manager().onContainerChange = [&](const std::string& name, bool added) {
        std::cout << name << (added ? " created" : " removed") << std::endl;
        if (added) {
            follow(name, onBus([&] { return std::string(bus.manager().GetContainer(name)); }));
        } else {
            objects.erase(name);
        }
    };
    for (const auto& row : onBus([&] { return bus.manager().List(); })) {
        std::cout << row.get<0>() << " " << row.get<1>() << std::endl;
        follow(row.get<0>(), row.get<3>());
    }
    bus.connection().enterEventLoop();
    return kExitOk;
}

}  // namespace

const std::vector<VerbRow>& verbTable() {
    static const std::vector<VerbRow> kVerbs = {
        {"list", "[--json]",
         "Print the name of every container, one a line (with --json: name, state, "
         "declarative and object path).",
         list},
        {"create",
         "NAME [--system-path PATH | --config TEXT | --config-file FILE | --flake URI] [--auto-start] "
         "[--bridge IFACE] [--port PORTS] [--host-address ADDR --local-address ADDR] "
         "[--ensure-unique-name]",
         "Create a container. Without addresses or --bridge it gets a private network with a free pair "
         "of the service's pool (10.233.N.1/10.233.N.2 at first); \"host IP is ..., container IP is ...\" "
         "goes to stderr. With "
         "--ensure-unique-name, NAME-0, NAME-1... is tried until one is free, and the name chosen is "
         "printed.",
         create},
        {"destroy", "NAME", "Stop the container and remove it; a container that does not exist is no error.",
         destroy, "0 for a container that does not exist, as the old tool."},
        {"start", "NAME", "Start the container; returns once it is ready.",
         simpleVerb<&org::nixos::Containers_proxy::Start>},
        {"stop", "NAME", "Stop the container (its init is asked to shut down).",
         simpleVerb<&org::nixos::Containers_proxy::Stop>},
        {"restart", "NAME", "Stop, then start the container.",
         simpleVerb<&org::nixos::Containers_proxy::Restart>},
        {"terminate", "NAME", "Kill the container at once.",
         simpleVerb<&org::nixos::Containers_proxy::Terminate>},
        {"reload", "NAME",
         "Activate the container's current system inside it (switch-to-configuration test), without a "
         "restart.",
         simpleVerb<&org::nixos::Containers_proxy::Reload>},
        {"status", "NAME", "Print up, down, or gone (then exit 3).", status, "3 when it prints gone."},
        {"update", "NAME [--system-path PATH | --config TEXT | --config-file FILE | --flake URI]",
         "Rebuild the container from the source given, or from its own Config, ConfigFile or Flake, and "
         "reload "
         "it if it runs.",
         update},
        {"rollback", "NAME",
         "Switch the container to its previous generation (as nix-env --rollback) and reload it if it runs.",
         simpleVerb<&org::nixos::Containers_proxy::Rollback>},
        {"login", "NAME",
         "Attach the terminal to a login prompt of the container (it needs systemd inside); ^] three times "
         "within a second ends the session. Without a terminal, stdin is typed in and its end ends the "
         "session.",
         login, "0 however the session ended, as machinectl login: the terminal's API cannot know."},
        {"root-login", "NAME",
         "At a terminal: attach it to a root shell of the container (it needs systemd inside). With stdin "
         "not a terminal (a pipe, a file, /dev/null): root's login shell runs through Run (no systemd "
         "needed inside) and reads stdin as its script, as with the old tool.",
         rootLogin,
         "without a terminal on stdin, the shell's status (128+N when signal N killed it); at a terminal 0 "
         "however the shell ended, as machinectl shell: the terminal's API cannot know."},
        {"run", "NAME -- COMMAND [ARGS...]",
         "Run COMMAND in the container with this process's stdin, stdout and stderr (a terminal among them "
         "is relayed through a pipe: the container never gets the host's terminal).",
         run, "the command's status, or 128+N when signal N killed it."},
        {"show-ip", "NAME", "Print the container's address.", showIp},
        {"show-host-key", "NAME", "Print the container's SSH host public key.", showHostKey},
        {"show", "NAME [--json]", "Print everything the service knows of the container.", show},
        {"logs", "NAME [-n N] [-f]",
         "Print the container's journal (its unit's: nspawn, its console, systemd about it), through the "
         "service, so a user polkit lets read it needs no access to the system journal.",
         logs},
        {"apply-declarative", "FILE",
         "Hand the service NixOS's declarative set (/etc/nixos-containers/declarative.json, as "
         "nixos/module.nix writes it) and print what became of each container; exit 1 when any "
         "container's change failed (the others still apply). Root's alone by default.",
         applyDeclarative, "1 when any container's change failed."},
        {"watch", "", "Print state changes of every container as they happen, until interrupted.", watch},
    };
    return kVerbs;
}

}  // namespace nixos_containers::cli
