#include "conf_file.h"

#include "errors.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_map>

namespace nixos_containers {

namespace {

bool isBlank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}
bool isSpace(char c) {
    return isBlank(c) || c == '\n';
}

bool isKeyStart(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool isKeyChar(char c) {
    return isKeyStart(c) || (c >= '0' && c <= '9');
}

bool isValidKey(std::string_view key) {
    return !key.empty() && isKeyStart(key.front()) && std::all_of(key.begin(), key.end(), isKeyChar);
}

// Values written bare: nothing systemd or bash would interpret.
bool isSafeValueChar(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::string_view("_./:,@%+=-").find(c) != std::string_view::npos;
}

// What set() refuses: the template word-splits values in bash and systemd
// unescapes them, so these would not reach nspawn as written.
bool isForbiddenValueChar(char c) {
    return c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n';
}

[[noreturn]] void badLine(std::size_t number, std::string_view line, const std::string& why) {
    throwInvalid("conf line " + std::to_string(number) + " " + quoteValue(line) + ": " + why);
}

// Parses the value part of one line, systemd EnvironmentFile= style, limited
// to single-line values.
std::string parseValue(std::string_view text, std::size_t number, std::string_view line) {
    // Most values have nothing to unescape: taken whole. Anything else,
    // errors included, goes the long way below.
    if (!text.empty() && (text.front() == '"' || text.front() == '\'')) {
        const char quote = text.front();
        const auto close = text.find(quote, 1);
        if (close != std::string_view::npos) {
            const auto inside = text.substr(1, close - 1);
            const auto after = text.substr(close + 1);
            if ((quote == '\'' || inside.find('\\') == std::string_view::npos) &&
                std::all_of(after.begin(), after.end(), isBlank)) {
                return std::string(inside);
            }
        }
    } else if (text.find('\\') == std::string_view::npos) {
        auto end = text.size();
        // systemd strips trailing whitespace of unquoted values.
        while (end > 0 && isBlank(text[end - 1]))
            --end;
        return std::string(text.substr(0, end));
    }
    std::string value;
    std::size_t i = 0;
    if (i < text.size() && (text[i] == '"' || text[i] == '\'')) {
        char quote = text[i++];
        bool closed = false;
        while (i < text.size()) {
            char c = text[i++];
            if (c == quote) {
                closed = true;
                break;
            }
            if (quote == '"' && c == '\\') {
                if (i >= text.size()) {
                    break;
                }
                char next = text[i++];
                // systemd drops the backslash before these and keeps it
                // before anything else.
                if (next != '"' && next != '\\' && next != '`' && next != '$') {
                    value += '\\';
                }
                value += next;
                continue;
            }
            value += c;
        }
        if (!closed) {
            badLine(number, line, "unterminated quote (multi-line values are not supported)");
        }
        while (i < text.size() && isBlank(text[i]))
            ++i;
        if (i != text.size()) {
            badLine(number, line, "text after the closing quote");
        }
        return value;
    }
    while (i < text.size()) {
        char c = text[i++];
        if (c == '\\') {
            if (i >= text.size()) {
                badLine(number, line, "line continuations are not supported");
            }
            value += text[i++];
            continue;
        }
        value += c;
    }
    // systemd strips trailing whitespace of unquoted values.
    while (!value.empty() && isBlank(value.back()))
        value.pop_back();
    return value;
}

std::vector<std::string> splitWords(std::string_view text) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && isSpace(text[i]))
            ++i;
        auto start = i;
        while (i < text.size() && !isSpace(text[i]))
            ++i;
        if (i > start) {
            words.emplace_back(text.substr(start, i - start));
        }
    }
    return words;
}

std::vector<std::string> splitOn(std::string_view text, char separator) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        auto at = text.find(separator, start);
        parts.emplace_back(text.substr(start, at == std::string_view::npos ? at : at - start));
        if (at == std::string_view::npos) {
            return parts;
        }
        start = at + 1;
    }
}

std::string joinWords(const std::vector<std::string>& words, char separator = ' ') {
    std::string out;
    for (const auto& word : words) {
        if (!out.empty())
            out += separator;
        out += word;
    }
    return out;
}

// Reads a key as the template does: absent and empty are the same (null).
const std::string* get(const EnvFile& conf, std::string_view key) {
    const auto* value = conf.find(key);
    return value == nullptr || value->empty() ? nullptr : value;
}

std::string getOr(const EnvFile& conf, std::string_view key, std::string_view fallback = {}) {
    const auto* value = get(conf, key);
    return std::string(value == nullptr ? fallback : std::string_view(*value));
}

bool getFlag(const EnvFile& conf, std::string_view key) {
    auto value = get(conf, key);
    if (!value || *value == "0") {
        return false;
    }
    if (*value == "1") {
        return true;
    }
    // The template tests `= 1`; anything else is a mistake worth naming.
    throwInvalid(std::string(key) + " " + quoteValue(*value) + " is neither 0 nor 1");
}

std::uint16_t parsePort(std::string_view entry, std::string_view text) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value > 65535) {
        throwInvalid("HOST_PORT entry " + quoteValue(entry) + " has a bad port " + quoteValue(text));
    }
    return static_cast<std::uint16_t>(value);
}

bool isAllDigits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The module's mkPortStr `protocol:hostPort:containerPort`, plus nspawn's
// shorter `hostPort` and `hostPort:containerPort` (and `protocol:hostPort`).
PortForward parsePortEntry(std::string_view entry) {
    auto parts = splitOn(entry, ':');
    PortForward port;
    if (parts.size() == 1) {
        port.hostPort = parsePort(entry, parts[0]);
    } else if (parts.size() == 2 && isAllDigits(parts[0])) {
        port.hostPort = parsePort(entry, parts[0]);
        port.containerPort = parsePort(entry, parts[1]);
    } else if (parts.size() == 2) {
        port.protocol = parts[0];
        port.hostPort = parsePort(entry, parts[1]);
    } else if (parts.size() == 3) {
        port.protocol = parts[0];
        port.hostPort = parsePort(entry, parts[1]);
        port.containerPort = parsePort(entry, parts[2]);
    } else {
        throwInvalid("HOST_PORT entry " + quoteValue(entry) + " is not [protocol:]hostPort[:containerPort]");
    }
    return port;
}

std::string portEntry(const PortForward& port) {
    auto containerPort = port.containerPort == 0 ? port.hostPort : port.containerPort;
    return port.protocol + ":" + std::to_string(port.hostPort) + ":" + std::to_string(containerPort);
}

// Bind flags exactly as the module's mkBindFlag writes them: the host path,
// when given, before the mount point. Words with nspawn's mount options
// (a third ':' field) stay extra flags, since BindMount has no place for them.
std::optional<BindMount> parseBindWord(std::string_view word) {
    bool readOnly;
    std::string_view rest;
    if (word.starts_with("--bind-ro=")) {
        readOnly = true;
        rest = word.substr(10);
    } else if (word.starts_with("--bind=")) {
        readOnly = false;
        rest = word.substr(7);
    } else {
        return std::nullopt;
    }
    auto parts = splitOn(rest, ':');
    BindMount bind;
    bind.readOnly = readOnly;
    if (parts.size() == 1 && !parts[0].empty()) {
        bind.mountPoint = parts[0];
    } else if (parts.size() == 2 && !parts[0].empty() && !parts[1].empty()) {
        bind.hostPath = parts[0];
        bind.mountPoint = parts[1];
    } else {
        return std::nullopt;
    }
    return bind;
}

std::string bindWord(const BindMount& bind) {
    std::string word = bind.readOnly ? "--bind-ro=" : "--bind=";
    if (!bind.hostPath.empty()) {
        word += bind.hostPath + ":";
    }
    return word + bind.mountPoint;
}

NetworkOptions parseVeth(std::string_view entry, std::string& name) {
    auto fields = splitOn(entry, ',');
    if (fields.size() != 6 || fields[0].empty()) {
        throwInvalid("EXTRA_VETHS entry " + quoteValue(entry) +
                     " is not name,hostAddress,localAddress,hostAddress6,localAddress6,hostBridge");
    }
    name = fields[0];
    return NetworkOptions{fields[1], fields[2], fields[3], fields[4], fields[5]};
}

// List items are joined with spaces (and commas inside EXTRA_VETHS and
// HOST_PORT); an item holding one would come back as something else.
void requireWord(std::string_view key, std::string_view item, std::string_view separators) {
    bool bad = item.empty() || std::any_of(item.begin(), item.end(), [&](char c) {
                   return isSpace(c) || separators.find(c) != std::string_view::npos;
               });
    if (bad) {
        throwInvalid(std::string(key) + " item " + quoteValue(item) + " is empty or contains a separator");
    }
}

void setOrErase(EnvFile& conf, const std::string& key, const std::string& value) {
    if (value.empty()) {
        conf.erase(key);
    } else {
        conf.set(key, value);
    }
}

void setFlag(EnvFile& conf, const std::string& key, bool value) {
    if (value) {
        conf.set(key, "1");
    } else {
        conf.erase(key);
    }
}

void setList(EnvFile& conf, const std::string& key, const std::vector<std::string>& items) {
    for (const auto& item : items) {
        requireWord(key, item, "");
    }
    setOrErase(conf, key, joinWords(items));
}

constexpr std::string_view kDefaultTimeout = "1min";

}  // namespace

EnvFile EnvFile::parse(std::string_view text) {
    EnvFile file;
    // The keys as they appear in `text`, in entries_'s order. A handful is
    // searched in place; past that, an index keeps a large (or fuzzed) file
    // with many keys from being quadratic to read.
    constexpr std::size_t kIndexFrom = 16;
    std::vector<std::string_view> keys;
    std::unordered_map<std::string_view, std::size_t> positions;
    std::size_t number = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        auto line = text.substr(start, end == std::string_view::npos ? end : end - start);
        start = end == std::string_view::npos ? text.size() : end + 1;
        ++number;

        std::size_t i = 0;
        while (i < line.size() && isBlank(line[i]))
            ++i;
        if (i == line.size() || line[i] == '#' || line[i] == ';') {
            continue;
        }
        auto keyStart = i;
        while (i < line.size() && isKeyChar(line[i]))
            ++i;
        auto key = line.substr(keyStart, i - keyStart);
        while (i < line.size() && isBlank(line[i]))
            ++i;
        if (!isValidKey(key) || i == line.size() || line[i] != '=') {
            badLine(number, line, "expected KEY=value");
        }
        ++i;
        while (i < line.size() && isBlank(line[i]))
            ++i;
        auto value = parseValue(line.substr(i), number, line);

        // systemd lets a later assignment win; keep the first position.
        std::size_t position = keys.size();
        if (keys.size() < kIndexFrom) {
            position = static_cast<std::size_t>(std::find(keys.begin(), keys.end(), key) - keys.begin());
        } else {
            if (positions.empty()) {
                for (std::size_t known = 0; known < keys.size(); ++known) {
                    positions.emplace(keys[known], known);
                }
            }
            position = positions.try_emplace(key, keys.size()).first->second;
        }
        if (position == keys.size()) {
            keys.push_back(key);
            file.entries_.emplace_back(std::string(key), std::move(value));
        } else {
            file.entries_[position].second = std::move(value);
        }
    }
    return file;
}

std::string EnvFile::serialize() const {
    std::string out;
    for (const auto& [key, value] : entries_) {
        out += key;
        out += '=';
        if (std::all_of(value.begin(), value.end(), isSafeValueChar)) {
            out += value;
        } else if (std::none_of(value.begin(), value.end(), isForbiddenValueChar)) {
            out += '"' + value + '"';
        } else if (value.find('\'') == std::string::npos && value.find('\n') == std::string::npos) {
            // Only parsed values get here (set() refuses these characters):
            // single quotes keep them literal for systemd.
            out += '\'' + value + '\'';
        } else {
            out += '"';
            for (char c : value) {
                if (c == '"' || c == '\\' || c == '$' || c == '`') {
                    out += '\\';
                }
                out += c;
            }
            out += '"';
        }
        out += '\n';
    }
    return out;
}

const std::string* EnvFile::find(std::string_view key) const {
    auto found =
        std::find_if(entries_.begin(), entries_.end(), [&](const auto& entry) { return entry.first == key; });
    return found == entries_.end() ? nullptr : &found->second;
}

void EnvFile::set(const std::string& key, const std::string& value) {
    if (!isValidKey(key)) {
        throwInvalid("conf key " + quoteValue(key) + " is not a valid variable name");
    }
    if (auto bad = std::find_if(value.begin(), value.end(), isForbiddenValueChar); bad != value.end()) {
        throwInvalid(key + " value " + quoteValue(value) + " contains " +
                     quoteValue(std::string_view(&*bad, 1)) +
                     ", which the container@ template cannot pass on unchanged");
    }
    auto found =
        std::find_if(entries_.begin(), entries_.end(), [&](const auto& entry) { return entry.first == key; });
    if (found != entries_.end()) {
        found->second = value;
    } else {
        entries_.emplace_back(key, value);
    }
}

void EnvFile::erase(std::string_view key) {
    std::erase_if(entries_, [&](const auto& entry) { return entry.first == key; });
}

ContainerSpec specFromConf(const EnvFile& conf) {
    ContainerSpec spec;
    spec.systemPath = getOr(conf, "SYSTEM_PATH");
    spec.configFile = getOr(conf, "CONFIG_FILE");
    spec.flake = getOr(conf, "FLAKE");

    spec.privateNetwork = getFlag(conf, "PRIVATE_NETWORK");
    // Read even without PRIVATE_NETWORK=1, as the template does;
    // validateSpec then says what is wrong.
    spec.network.hostBridge = getOr(conf, "HOST_BRIDGE");
    spec.network.hostAddress = getOr(conf, "HOST_ADDRESS");
    spec.network.hostAddress6 = getOr(conf, "HOST_ADDRESS6");
    spec.network.localAddress = getOr(conf, "LOCAL_ADDRESS");
    spec.network.localAddress6 = getOr(conf, "LOCAL_ADDRESS6");
    if (auto ports = get(conf, "HOST_PORT")) {
        // The template splits on ',' with bash, which drops empty fields.
        for (const auto& entry : splitOn(*ports, ',')) {
            if (!entry.empty()) {
                spec.forwardPorts.push_back(parsePortEntry(entry));
            }
        }
    }
    if (auto interfaces = get(conf, "INTERFACES")) {
        spec.interfaces = splitWords(*interfaces);
    }
    if (auto macvlans = get(conf, "MACVLANS")) {
        spec.macvlans = splitWords(*macvlans);
    }
    spec.autoStart = getFlag(conf, "AUTO_START");

    if (auto flags = get(conf, "EXTRA_NSPAWN_FLAGS")) {
        for (auto& word : splitWords(*flags)) {
            if (auto bind = parseBindWord(word)) {
                spec.bindMounts.push_back(std::move(*bind));
            } else {
                spec.extraFlags.push_back(std::move(word));
            }
        }
    }

    spec.ephemeral = getFlag(conf, "EPHEMERAL");
    spec.enableTun = getFlag(conf, "ENABLE_TUN");
    spec.timeoutStartSec = getOr(conf, "TIMEOUT_START_SEC", kDefaultTimeout);
    if (auto capabilities = get(conf, "ADDITIONAL_CAPABILITIES")) {
        spec.additionalCapabilities = splitWords(*capabilities);
    }
    if (auto tmpfs = get(conf, "TMPFS")) {
        spec.tmpfs = splitWords(*tmpfs);
    }
    if (auto devices = get(conf, "ALLOWED_DEVICES")) {
        for (const auto& word : splitWords(*devices)) {
            // NODE:MODIFIER; the modifier never holds ':', the node might.
            auto colon = word.rfind(':');
            if (colon == std::string::npos || colon == 0) {
                throwInvalid("ALLOWED_DEVICES entry " + quoteValue(word) + " is not node:modifier");
            }
            spec.allowedDevices.push_back({word.substr(0, colon), word.substr(colon + 1)});
        }
    }
    if (auto veths = get(conf, "EXTRA_VETHS")) {
        for (const auto& word : splitWords(*veths)) {
            std::string name;
            auto options = parseVeth(word, name);
            if (!spec.extraVeths.emplace(name, options).second) {
                throwInvalid("EXTRA_VETHS names " + quoteValue(name) + " twice");
            }
        }
    }
    return spec;
}

EnvFile confFromSpec(const ContainerSpec& spec, EnvFile base, const std::filesystem::path& configTextFile) {
    EnvFile& conf = base;
    setOrErase(conf, "SYSTEM_PATH", spec.systemPath);
    setOrErase(conf, "CONFIG_FILE", spec.configFile);
    setOrErase(conf, "FLAKE", spec.flake);
    setOrErase(conf, "CONFIG_TEXT_FILE", spec.config.empty() ? "" : configTextFile.string());

    setFlag(conf, "PRIVATE_NETWORK", spec.privateNetwork);
    // Like the module, the network keys only go with PRIVATE_NETWORK=1.
    const auto& net = spec.network;
    std::vector<std::string> ports;
    for (const auto& port : spec.forwardPorts) {
        requireWord("HOST_PORT", port.protocol, ",:");
        ports.push_back(portEntry(port));
    }
    bool withNetwork = spec.privateNetwork;
    setOrErase(conf, "HOST_BRIDGE", withNetwork ? net.hostBridge : "");
    setOrErase(conf, "HOST_PORT", withNetwork ? joinWords(ports, ',') : "");
    setOrErase(conf, "HOST_ADDRESS", withNetwork ? net.hostAddress : "");
    setOrErase(conf, "HOST_ADDRESS6", withNetwork ? net.hostAddress6 : "");
    setOrErase(conf, "LOCAL_ADDRESS", withNetwork ? net.localAddress : "");
    setOrErase(conf, "LOCAL_ADDRESS6", withNetwork ? net.localAddress6 : "");
    setList(conf, "INTERFACES", spec.interfaces);
    setList(conf, "MACVLANS", spec.macvlans);
    setFlag(conf, "AUTO_START", spec.autoStart);

    std::vector<std::string> flags;
    for (const auto& bind : spec.bindMounts) {
        flags.push_back(bindWord(bind));
    }
    flags.insert(flags.end(), spec.extraFlags.begin(), spec.extraFlags.end());
    setList(conf, "EXTRA_NSPAWN_FLAGS", flags);

    setFlag(conf, "EPHEMERAL", spec.ephemeral);
    setFlag(conf, "ENABLE_TUN", spec.enableTun);
    setOrErase(conf, "TIMEOUT_START_SEC",
               spec.timeoutStartSec == kDefaultTimeout ? "" : spec.timeoutStartSec);
    setList(conf, "ADDITIONAL_CAPABILITIES", spec.additionalCapabilities);
    setList(conf, "TMPFS", spec.tmpfs);

    std::vector<std::string> devices;
    for (const auto& device : spec.allowedDevices) {
        requireWord("ALLOWED_DEVICES", device.node, "");
        requireWord("ALLOWED_DEVICES", device.modifier, ":");
        devices.push_back(device.node + ":" + device.modifier);
    }
    setList(conf, "ALLOWED_DEVICES", devices);

    std::vector<std::string> veths;
    for (const auto& [name, options] : spec.extraVeths) {
        requireWord("EXTRA_VETHS", name, ",");
        std::string entry = name;
        for (const auto* field : {&options.hostAddress, &options.localAddress, &options.hostAddress6,
                                  &options.localAddress6, &options.hostBridge}) {
            if (!field->empty()) {
                requireWord("EXTRA_VETHS", *field, ",");
            }
            entry += "," + *field;
        }
        veths.push_back(std::move(entry));
    }
    setList(conf, "EXTRA_VETHS", veths);
    return base;
}

}  // namespace nixos_containers
