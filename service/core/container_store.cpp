#include "container_store.h"

#include "errors.h"
#include "validation.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void throwIo(const std::string& what, const fs::path& path, int error) {
    throw ContainerError(ErrorCode::IOError, what + " '" + path.string() + "': " + std::strerror(error));
}

void checked(const std::string& what, const fs::path& path, const std::error_code& error) {
    if (error) {
        throwIo(what, path, error.value());
    }
}


void fsyncPath(const fs::path& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) {
        throwIo("cannot open", path, errno);
    }
    int result = ::fsync(fd);
    int error = errno;
    ::close(fd);
    if (result != 0) {
        throwIo("cannot sync", path, error);
    }
}

// Temporary file, fsync, rename, fsync of the directory: after a crash the
// file is either the old one or the new one, never a torn mix.
void writeAtomically(const fs::path& path, const std::string& contents, mode_t mode) {
    fs::path temporary = path;
    temporary += ".tmp";
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        throwIo("cannot create", temporary, errno);
    }
    std::size_t written = 0;
    while (written < contents.size()) {
        auto count = ::write(fd, contents.data() + written, contents.size() - written);
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            int error = errno;
            ::close(fd);
            ::unlink(temporary.c_str());
            throwIo("cannot write", temporary, error);
        }
        written += static_cast<std::size_t>(count);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int error = errno;
        ::unlink(temporary.c_str());
        throwIo("cannot write", temporary, error);
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        int error = errno;
        ::unlink(temporary.c_str());
        throwIo("cannot replace", path, error);
    }
    fsyncPath(path.parent_path(), O_RDONLY | O_DIRECTORY);
}

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throwIo("cannot read", path, errno == 0 ? EIO : errno);
    }
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void makeDirectory(const fs::path& path, fs::perms perms) {
    std::error_code error;
    fs::create_directories(path, error);
    checked("cannot create directory", path, error);
    fs::permissions(path, perms, error);
    checked("cannot set permissions of", path, error);
}

void touch(const fs::path& path) {
    if (fs::exists(fs::symlink_status(path))) {
        return;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        throwIo("cannot create", path, errno);
    }
    ::close(fd);
}

constexpr std::string_view kConfigBegin = "  # BEGIN Config (org.nixos.Containers)\n";
constexpr std::string_view kConfigEnd = "  # END Config\n";

// The module nixos-container generates around --config text.
std::string configModule(const std::string& name, const std::string& text) {
    std::string module = "{ config, lib, pkgs, ... }:\n{\n";
    module += "  boot.isContainer = true;\n";
    module += "  networking.hostName = lib.mkDefault \"" + name + "\";\n";
    module += "  networking.useDHCP = false;\n";
    module += kConfigBegin;
    module += text;
    if (!text.empty() && text.back() != '\n') {
        module += '\n';
    }
    module += kConfigEnd;
    module += "}\n";
    return module;
}

std::string configTextFromModule(const std::string& module) {
    auto begin = module.find(kConfigBegin);
    auto end = module.rfind(kConfigEnd);
    if (begin == std::string::npos || end == std::string::npos || end < begin) {
        return module;  // written by someone else: the whole file is the config
    }
    begin += kConfigBegin.size();
    auto text = module.substr(begin, end - begin);
    if (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    return text;
}

}  // namespace

ContainerStore::ContainerStore(Settings settings) : settings_(std::move(settings)) {}

bool ContainerStore::exists(const std::string& name) const {
    std::error_code error;
    return fs::exists(fs::symlink_status(containerPaths(settings_, name, false).confFile, error));
}

bool ContainerStore::isDeclarative(const std::string& name) const {
    const auto conf = containerPaths(settings_, name, false).confFile;
    std::error_code error;
    auto status = fs::symlink_status(conf, error);
    if (!error && fs::is_symlink(status)) {
        return true;
    }
    if (!error && fs::exists(status) && ::access(conf.c_str(), W_OK) != 0) {
        return true;
    }
    if (!error && fs::exists(status) && (status.permissions() & fs::perms::owner_write) == fs::perms::none) {
        return true;
    }
    for (const auto& directory : settings_.declarativeUnitDirs) {
        if (fs::exists(directory / ("container@" + name + ".service"), error)) {
            return true;
        }
    }
    return false;
}

ContainerStore::Entry ContainerStore::load(const std::string& name) const {
    const auto paths = containerPaths(settings_, name, false);
    Entry entry;
    entry.name = name;
    entry.conf = EnvFile::parse(readFile(paths.confFile));
    entry.spec = specFromConf(entry.conf);
    if (const auto* textFile = entry.conf.find("CONFIG_TEXT_FILE"); textFile != nullptr) {
        entry.spec.config = configTextFromModule(readFile(*textFile));
    }
    entry.declarative = isDeclarative(name);
    return entry;
}

std::vector<ContainerStore::Entry> ContainerStore::loadAll(std::vector<std::string>& problems) const {
    std::vector<Entry> entries;
    std::error_code error;
    fs::directory_iterator iterator(settings_.configDir, error);
    if (error) {
        if (error != std::errc::no_such_file_or_directory) {
            problems.push_back("cannot list '" + settings_.configDir.string() + "': " + error.message());
        }
        return entries;
    }
    for (const auto& file : iterator) {
        const auto& path = file.path();
        if (path.extension() != ".conf") {
            continue;
        }
        auto name = path.stem().string();
        try {
            validateName(name);
            entries.push_back(load(name));
        } catch (const ContainerError& failure) {
            problems.push_back(path.string() + ": " + failure.what());
        }
    }
    return entries;
}

void ContainerStore::save(const std::string& name, const ContainerSpec& spec, const EnvFile& base) const {
    const auto paths = containerPaths(settings_, name, spec.ephemeral);
    std::error_code error;
    fs::create_directories(settings_.configDir, error);
    checked("cannot create directory", settings_.configDir, error);
    if (!spec.config.empty()) {
        saveConfigText(name, spec.config);
    }
    auto conf = confFromSpec(spec, base, paths.configTextFile);
    writeAtomically(paths.confFile, conf.serialize(), 0644);
    if (spec.config.empty()) {
        fs::remove(paths.configTextFile, error);
    }
}

void ContainerStore::saveConfigText(const std::string& name, const std::string& text) const {
    std::error_code error;
    fs::create_directories(settings_.configDir, error);
    checked("cannot create directory", settings_.configDir, error);
    writeAtomically(containerPaths(settings_, name, false).configTextFile, configModule(name, text), 0644);
}

void ContainerStore::removeConf(const std::string& name) const {
    const auto paths = containerPaths(settings_, name, false);
    std::error_code error;
    fs::remove(paths.confFile, error);
    checked("cannot remove", paths.confFile, error);
    fs::remove(paths.configTextFile, error);
    checked("cannot remove", paths.configTextFile, error);
}

void ContainerStore::prepareRoot(const ContainerPaths& paths) const {
    const auto& root = paths.root;
    const auto open = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec;
    makeDirectory(root, open);
    makeDirectory(root / "etc", open);
    makeDirectory(root / "var/lib", open);
    makeDirectory(root / "usr", open);
    makeDirectory(root / "var/lib/private", fs::perms::owner_all);
    makeDirectory(root / "root", fs::perms::owner_all);
    touch(root / "etc/os-release");
    touch(root / "etc/machine-id");
    makeDirectory(paths.profileDir, open);
    makeDirectory(paths.gcrootsDir, open);

    // cp --remove-destination: a symlink left by the container is replaced,
    // never followed out of the root.
    const auto resolv = root / "etc/resolv.conf";
    std::error_code error;
    fs::remove(resolv, error);
    if (fs::exists(settings_.resolvConf, error)) {
        writeAtomically(resolv, readFile(settings_.resolvConf), 0644);
    }
}

void ContainerStore::linkSystem(const ContainerPaths& paths, const fs::path& systemOnHost) const {
    std::error_code error;
    fs::create_directories(paths.profileDir, error);
    checked("cannot create directory", paths.profileDir, error);
    fs::create_directories(paths.gcrootsDir, error);
    checked("cannot create directory", paths.gcrootsDir, error);
    auto temporary = paths.systemLink;
    temporary += ".tmp";
    fs::remove(temporary, error);
    fs::create_symlink(systemOnHost, temporary, error);
    checked("cannot create link", temporary, error);
    fs::rename(temporary, paths.systemLink, error);
    checked("cannot replace", paths.systemLink, error);
}

void ContainerStore::removeData(const ContainerPaths& paths) const {
    for (const auto& path : {paths.root, paths.profileDir, paths.gcrootsDir}) {
        std::error_code error;
        fs::remove_all(path, error);
        checked("cannot remove", path, error);
    }
}

}  // namespace nixos_containers
