#include "conf_file.h"

#include "errors.h"
#include "spec_keys.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <stdexcept>
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
    return port.protocol + ":" + std::to_string(port.hostPort) + ":" +
           std::to_string(port.effectiveContainerPort());
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

void setList(EnvFile& conf, const std::string& key, const std::vector<std::string>& items) {
    for (const auto& item : items) {
        requireWord(key, item, "");
    }
    setOrErase(conf, key, joinWords(items));
}

// ---- plain keys: read and written from their rows -------------------------

// Absent or empty reads as the key's default, as the template reads it.
SpecValue readPlainKey(const EnvFile& conf, const SpecKey& key) {
    const auto* value = get(conf, key.confKey);
    if (value == nullptr) {
        return key.defaultValue();
    }
    switch (key.kind) {
        case SpecKind::String:
            return *value;
        case SpecKind::Flag:
            return getFlag(conf, key.confKey);
        case SpecKind::Words:
            return splitWords(*value);
        default:
            throw std::logic_error("spec key " + std::string(key.busName) + " is no plain conf key");
    }
}

// A key at its default is left out, so the template's defaults apply.
void writePlainKey(EnvFile& conf, const SpecKey& key, const ContainerSpec& spec) {
    const std::string confKey(key.confKey);
    auto value = key.get(spec);
    if ((key.confOnlyWithPrivateNetwork && !spec.privateNetwork) || value == key.defaultValue()) {
        conf.erase(confKey);
        return;
    }
    if (const auto* text = std::get_if<std::string>(&value)) {
        setOrErase(conf, confKey, *text);
    } else if (const auto* flag = std::get_if<bool>(&value)) {
        // Not the default: written out, "0" too (CopyResolvConf's default is true).
        conf.set(confKey, *flag ? "1" : "0");
    } else if (const auto* words = std::get_if<std::vector<std::string>>(&value)) {
        setList(conf, confKey, *words);
    } else {
        throw std::logic_error("spec key " + std::string(key.busName) + " is no plain conf key");
    }
}

// ---- structured keys: each conversion written once, here ------------------

struct StructuredConversion {
    void (*read)(const EnvFile& conf, ContainerSpec& spec);
    void (*write)(const ContainerSpec& spec, EnvFile& conf, const std::filesystem::path& configTextFile);
};

// Config's text lives in its own file, which the store reads; the conf
// only names it.
void readConfigTextFile(const EnvFile& /*conf*/, ContainerSpec& /*spec*/) {}
void writeConfigTextFile(const ContainerSpec& spec, EnvFile& conf,
                         const std::filesystem::path& configTextFile) {
    setOrErase(conf, "CONFIG_TEXT_FILE", spec.config.empty() ? "" : configTextFile.string());
}

void readHostPort(const EnvFile& conf, ContainerSpec& spec) {
    if (auto ports = get(conf, "HOST_PORT")) {
        // The template splits on ',' with bash, which drops empty fields.
        for (const auto& entry : splitOn(*ports, ',')) {
            if (!entry.empty()) {
                spec.forwardPorts.push_back(parsePortEntry(entry));
            }
        }
    }
}
void writeHostPort(const ContainerSpec& spec, EnvFile& conf,
                   const std::filesystem::path& /*configTextFile*/) {
    std::vector<std::string> ports;
    for (const auto& port : spec.forwardPorts) {
        requireWord("HOST_PORT", port.protocol, ",:");
        ports.push_back(portEntry(port));
    }
    // Like the module, the network keys only go with PRIVATE_NETWORK=1.
    setOrErase(conf, "HOST_PORT", spec.privateNetwork ? joinWords(ports, ',') : "");
}

// Bind mounts live in EXTRA_NSPAWN_FLAGS, as the module keeps them: the
// BindMounts conversion reads and writes ExtraFlags with them.
void readNspawnFlags(const EnvFile& conf, ContainerSpec& spec) {
    if (auto flags = get(conf, "EXTRA_NSPAWN_FLAGS")) {
        for (auto& word : splitWords(*flags)) {
            if (auto bind = parseBindWord(word)) {
                spec.bindMounts.push_back(std::move(*bind));
            } else {
                spec.extraFlags.push_back(std::move(word));
            }
        }
    }
}
void writeNspawnFlags(const ContainerSpec& spec, EnvFile& conf,
                      const std::filesystem::path& /*configTextFile*/) {
    std::vector<std::string> flags;
    for (const auto& bind : spec.bindMounts) {
        flags.push_back(bindWord(bind));
    }
    flags.insert(flags.end(), spec.extraFlags.begin(), spec.extraFlags.end());
    setList(conf, "EXTRA_NSPAWN_FLAGS", flags);
}
void readWithBindMounts(const EnvFile& /*conf*/, ContainerSpec& /*spec*/) {}
void writeWithBindMounts(const ContainerSpec& /*spec*/, EnvFile& /*conf*/,
                         const std::filesystem::path& /*configTextFile*/) {}

void readAllowedDevices(const EnvFile& conf, ContainerSpec& spec) {
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
}
void writeAllowedDevices(const ContainerSpec& spec, EnvFile& conf,
                         const std::filesystem::path& /*configTextFile*/) {
    std::vector<std::string> devices;
    for (const auto& device : spec.allowedDevices) {
        requireWord("ALLOWED_DEVICES", device.node, "");
        requireWord("ALLOWED_DEVICES", device.modifier, ":");
        devices.push_back(device.node + ":" + device.modifier);
    }
    setList(conf, "ALLOWED_DEVICES", devices);
}

void readExtraVeths(const EnvFile& conf, ContainerSpec& spec) {
    if (auto veths = get(conf, "EXTRA_VETHS")) {
        for (const auto& word : splitWords(*veths)) {
            std::string name;
            auto options = parseVeth(word, name);
            if (!spec.extraVeths.emplace(name, options).second) {
                throwInvalid("EXTRA_VETHS names " + quoteValue(name) + " twice");
            }
        }
    }
}
void writeExtraVeths(const ContainerSpec& spec, EnvFile& conf,
                     const std::filesystem::path& /*configTextFile*/) {
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
}

// The conversion of a row without a plain conf key.
StructuredConversion structuredConversion(const SpecKey& key) {
    static const std::unordered_map<std::string_view, StructuredConversion> kConversions = {
        {"Config", {readConfigTextFile, writeConfigTextFile}},
        {"ForwardPorts", {readHostPort, writeHostPort}},
        {"BindMounts", {readNspawnFlags, writeNspawnFlags}},
        {"ExtraFlags", {readWithBindMounts, writeWithBindMounts}},
        {"AllowedDevices", {readAllowedDevices, writeAllowedDevices}},
        {"ExtraVeths", {readExtraVeths, writeExtraVeths}},
    };
    auto found = kConversions.find(key.busName);
    if (found == kConversions.end()) {
        throw std::logic_error("spec key " + std::string(key.busName) +
                               " has neither a conf key nor a conversion");
    }
    return found->second;
}

}  // namespace

std::string confTextProblem(std::string_view text) {
    if (text.empty()) {
        return "it is empty";
    }
    if (text.find('\0') != std::string_view::npos) {
        return "it contains a NUL byte";
    }
    if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) > kMaxConfLines) {
        return "it has more than " + std::to_string(kMaxConfLines) + " lines";
    }
    if (text.back() != '\n') {
        return "its last line has no newline (a write cut short?)";
    }
    return {};
}

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

std::uint32_t ownerFromConf(const EnvFile& conf) {
    const auto* text = conf.find(kOwnerConfKey);
    std::uint32_t uid = 0;
    if (text == nullptr ||
        std::from_chars(text->data(), text->data() + text->size(), uid).ptr != text->data() + text->size()) {
        return 0;
    }
    return uid;
}

bool declaredInConf(const EnvFile& conf) {
    const auto* text = conf.find(kDeclarativeConfKey);
    return text != nullptr && *text == "1";
}

ContainerSpec specFromConf(const EnvFile& conf) {
    ContainerSpec spec;
    for (const auto& key : specKeys()) {
        if (!key.confKey.empty()) {
            // Read even when the module would not write it (a network key
            // without PRIVATE_NETWORK=1), as the template does; validateSpec
            // then says what is wrong.
            key.set(spec, readPlainKey(conf, key));
        } else {
            structuredConversion(key).read(conf, spec);
        }
    }
    return spec;
}

EnvFile confFromSpec(const ContainerSpec& spec, EnvFile base, const std::filesystem::path& configTextFile) {
    for (const auto& key : specKeys()) {
        if (!key.confKey.empty()) {
            writePlainKey(base, key, spec);
        } else {
            structuredConversion(key).write(spec, base, configTextFile);
        }
    }
    return base;
}

}  // namespace nixos_containers
