#include "container_store.h"

#include "errors.h"
#include "spec_keys.h"
#include "transient_unit.h"
#include "utf8.h"
#include "validation.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <random>
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

void makeDirectory(const fs::path& path, fs::perms perms) {
    std::error_code error;
    fs::create_directories(path, error);
    checked("cannot create directory", path, error);
    fs::permissions(path, perms, error);
    checked("cannot set permissions of", path, error);
}

class UniqueFd {
public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    ~UniqueFd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            if (fd_ >= 0) {
                ::close(fd_);
            }
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    [[nodiscard]] int get() const { return fd_; }

private:
    int fd_;
};

// The whole file, following links as any reader of the conf does; a file
// of more than `maxBytes` is refused (InvalidArgument) before it is read,
// and so is anything but a regular file (a FIFO would block the loop).
std::string readFile(const std::string& path,
                     std::size_t maxBytes = std::numeric_limits<std::size_t>::max()) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
        throwIo("cannot read", path, errno);
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
        throwIo("cannot read", path, errno);
    }
    if (!S_ISREG(info.st_mode)) {
        throw ContainerError(ErrorCode::IOError, "'" + path + "' is not a regular file");
    }
    auto tooBig = [&] {
        throw ContainerError(ErrorCode::InvalidArgument,
                             "'" + path + "' is larger than " + std::to_string(maxBytes) + " bytes");
    };
    const auto expected = static_cast<std::size_t>(std::max<off_t>(info.st_size, 0));
    if (expected > maxBytes) {
        tooBig();
    }
    // One byte more than the size, so a file read whole ends in one read and
    // one short (end of file) read.
    std::string contents(expected > 0 ? expected + 1 : 4096, '\0');
    std::size_t size = 0;
    while (true) {
        if (size == contents.size()) {
            contents.resize(contents.size() * 2);
        }
        auto count = ::read(fd.get(), contents.data() + size, contents.size() - size);
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count < 0) {
            throwIo("cannot read", path, errno);
        }
        if (count == 0) {
            break;
        }
        size += static_cast<std::size_t>(count);
        if (size > maxBytes) {
            tooBig();  // it grew while being read
        }
    }
    contents.resize(size);
    return contents;
}

// Opens (creating it with `mode` when missing) the directory `relative`
// below `rootFd`, one component at a time, refusing links: a directory that
// turned out to be a link fails with ELOOP/ENOTDIR instead of leading out.
// Only a directory it creates gets `mode`; an existing one keeps its own.
UniqueFd directoryBeneath(int rootFd, const fs::path& root, const fs::path& relative, mode_t mode) {
    UniqueFd current(::fcntl(rootFd, F_DUPFD_CLOEXEC, 3));
    fs::path walked = root;
    for (const auto& component : relative) {
        walked /= component;
        if (::mkdirat(current.get(), component.c_str(), mode) == 0) {
            // mkdir's mode passed through the umask; set what the module asks.
            UniqueFd created(
                ::openat(current.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (created.get() < 0 || ::fchmod(created.get(), mode) != 0) {
                throwIo("cannot set permissions of", walked, errno);
            }
        } else if (errno != EEXIST) {
            throwIo("cannot create directory", walked, errno);
        }
        UniqueFd next(
            ::openat(current.get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (next.get() < 0) {
            throwIo("refusing to use", walked, errno);
        }
        current = std::move(next);
    }
    return current;
}

void createEmptyBeneath(int directoryFd, const fs::path& directory, const char* name) {
    int fd = ::openat(directoryFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
        ::close(fd);
    } else if (errno != EEXIST) {
        throwIo("cannot create", directory / name, errno);
    }
}

// NAME beneath the directory already is a file of exactly these contents:
// a regular file (a link is not opened), of one name only, read whole.
// Writing it anew costs a new inode and a rename, about 1 ms of every Start.
bool holdsExactly(int directoryFd, const char* name, const std::string& contents) {
    UniqueFd fd(::openat(directoryFd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat info {};
    if (fd.get() < 0 || ::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_nlink != 1 ||
        static_cast<std::size_t>(info.st_size) != contents.size()) {
        return false;
    }
    std::string existing(contents.size() + 1, '\0');
    std::size_t size = 0;
    while (size < existing.size()) {
        auto count = ::read(fd.get(), existing.data() + size, existing.size() - size);
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count <= 0) {
            break;
        }
        size += static_cast<std::size_t>(count);
    }
    existing.resize(size);
    return existing == contents;
}

void replaceFileBeneath(int directoryFd, const fs::path& directory, const char* name,
                        const std::string& contents) {
    // A fresh, unguessable name with O_EXCL: nothing planted can be reused.
    std::string temporary;
    int fd = -1;
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
        std::random_device random;
        temporary = "." + std::string(name) + "." + std::to_string(random()) + ".tmp";
        fd = ::openat(directoryFd, temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0644);
        if (fd < 0 && errno != EEXIST) {
            break;
        }
    }
    if (fd < 0) {
        throwIo("cannot create", directory / temporary, errno);
    }
    UniqueFd file(fd);
    std::size_t written = 0;
    while (written < contents.size()) {
        auto count = ::write(file.get(), contents.data() + written, contents.size() - written);
        if (count < 0 && errno == EINTR) {
            continue;
        }
        if (count < 0) {
            int error = errno;
            ::unlinkat(directoryFd, temporary.c_str(), 0);
            throwIo("cannot write", directory / temporary, error);
        }
        written += static_cast<std::size_t>(count);
    }
    // renameat replaces a link itself, not what it points to.
    if (::renameat(directoryFd, temporary.c_str(), directoryFd, name) != 0) {
        int error = errno;
        ::unlinkat(directoryFd, temporary.c_str(), 0);
        throwIo("cannot replace", directory / name, error);
    }
}

// The first mount point strictly below `directory`, from /proc/self/mountinfo
// (field 5; octal escapes as the kernel writes them).
std::optional<std::string> mountBelow(const fs::path& directory) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    const std::string prefix = directory.lexically_normal().string() + "/";
    std::string line;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mountPoint;
        fields >> id >> parent >> device >> root >> mountPoint;
        std::string decoded;
        for (std::size_t i = 0; i < mountPoint.size(); ++i) {
            if (mountPoint[i] == '\\' && i + 3 < mountPoint.size()) {
                decoded += static_cast<char>(std::stoi(mountPoint.substr(i + 1, 3), nullptr, 8));
                i += 3;
            } else {
                decoded += mountPoint[i];
            }
        }
        if (decoded.starts_with(prefix)) {
            return decoded;
        }
    }
    return std::nullopt;
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
    struct stat info {};
    return ::lstat(confFilePath(settings_, name).c_str(), &info) == 0;
}

std::vector<std::string> ContainerStore::pinnedNetworks() const {
    std::vector<std::string> names;
    std::error_code error;
    for (const auto& pin : fs::directory_iterator(netnsPinDirectory(settings_), error)) {
        auto name = pin.path().filename().string();
        try {
            validateExistingName(name);
            names.push_back(std::move(name));
        } catch (const ContainerError&) {
            // Not a pin of ours: the directory is ours, but a name we never
            // make is left for whoever put it there.
        }
    }
    return names;
}

bool ContainerStore::runsByModuleTemplate(const std::string& name) const {
    // Judged by what NixOS makes, never by what can be written: a conf made
    // read-only (chmod 0444, a read-only config directory) is still an
    // imperative container, with no container@NAME.service to start it by.
    struct stat info {};
    const auto unit = declarativeUnitName(name);
    for (const auto& directory : settings_.declarativeUnitDirs) {
        if (::stat(joinPath(directory.native(), {unit}).c_str(), &info) == 0) {
            return true;
        }
    }
    // environment.etc's link into the store, through /etc/static.
    const auto conf = confFilePath(settings_, name);
    if (::lstat(conf.c_str(), &info) != 0 || !S_ISLNK(info.st_mode)) {
        return false;
    }
    std::error_code targetError;
    std::error_code storeError;
    const auto target = fs::canonical(conf, targetError);
    const auto store = fs::weakly_canonical(settings_.storeDir, storeError);
    if (targetError || storeError) {
        return false;
    }
    const auto relative = target.lexically_relative(store);
    return !relative.empty() && *relative.begin() != "..";
}

ContainerStore::Entry ContainerStore::load(const std::string& name) const {
    Entry entry;
    entry.name = name;
    const auto path = confFilePath(settings_, name);
    const auto text = readFile(path, kMaxConfBytes);
    if (auto problem = confTextProblem(text); !problem.empty()) {
        throwInvalid("'" + path + "': " + problem);
    }
    try {
        entry.conf = EnvFile::parse(text);
        entry.spec = specFromConf(entry.conf);
    } catch (const ContainerError& error) {
        throw ContainerError(error.code(), "'" + path + "': " + error.what());
    }
    if (const auto* textFile = entry.conf.find("CONFIG_TEXT_FILE"); textFile != nullptr) {
        // The module around at most kMaxConfigBytes of Config text.
        entry.spec.config =
            sanitizeUtf8(configTextFromModule(readFile(*textFile, kMaxConfigBytes + kMaxConfBytes)));
    }
    entry.templateUnit = runsByModuleTemplate(name);
    entry.declarative = entry.templateUnit || declaredInConf(entry.conf);
    return entry;
}

std::vector<ContainerStore::Entry> ContainerStore::loadAll(std::vector<std::string>& problems) const {
    std::vector<Entry> entries;
    const auto& configDir = settings_.configDir.native();
    auto cannotList = [&](int error) {
        problems.push_back("cannot list '" + configDir + "': " + std::generic_category().message(error));
    };
    int fd = ::open(configDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    std::unique_ptr<DIR, int (*)(DIR*)> directory(fd < 0 ? nullptr : ::fdopendir(fd), &::closedir);
    if (!directory) {
        int error = errno;
        if (fd >= 0) {
            ::close(fd);
        }
        if (error != ENOENT) {
            cannotList(error);
        }
        return entries;
    }
    while (true) {
        errno = 0;
        const dirent* file = ::readdir(directory.get());
        if (file == nullptr) {
            if (errno != 0) {
                cannotList(errno);
            }
            break;
        }
        const std::string_view filename = file->d_name;
        if (filename == "." || filename == "..") {
            continue;
        }
        // A service killed between writing a temporary and renaming it over
        // NAME.conf / NAME.nix left the temporary: never a container, always ours.
        if (filename.ends_with(".conf.tmp") || filename.ends_with(".nix.tmp")) {
            const fs::path path = joinPath(configDir, {filename});
            std::error_code removeError;
            fs::remove(path, removeError);
            if (removeError) {
                problems.push_back("cannot remove the stale temporary '" + path.string() +
                                   "': " + removeError.message());
            }
            continue;
        }
        // NAME.conf; ".conf" alone has no extension (a hidden file).
        constexpr std::string_view kExtension = ".conf";
        if (filename.size() <= kExtension.size() || !filename.ends_with(kExtension)) {
            continue;
        }
        std::string name(filename.substr(0, filename.size() - kExtension.size()));
        try {
            validateExistingName(name);
        } catch (const ContainerError& failure) {
            problems.push_back(joinPath(configDir, {filename}) + ": " + failure.what());
            continue;
        }
        try {
            entries.push_back(load(name));
        } catch (const ContainerError& failure) {
            // Listed all the same, saying why: an admin sees it and can
            // Destroy it, and its name is taken for Create as for the API.
            problems.push_back("container '" + name + "': " + failure.what());
            Entry broken;
            broken.name = std::move(name);
            broken.broken = failure.what();
            broken.templateUnit = runsByModuleTemplate(broken.name);
            broken.declarative = broken.templateUnit;
            entries.push_back(std::move(broken));
        }
    }
    return entries;
}

std::vector<std::string> ContainerStore::secureTrees() const {
    std::vector<std::string> corrected;
    for (const auto& tree :
         {settings_.stateDir, settings_.runtimeDir, settings_.profilesDir, settings_.gcrootsDir}) {
        std::error_code error;
        fs::create_directories(tree, error);
        checked("cannot create directory", tree, error);
        auto perms = fs::status(tree, error).permissions();
        checked("cannot read the permissions of", tree, error);
        if ((perms & (fs::perms::group_all | fs::perms::others_all)) != fs::perms::none) {
            fs::permissions(tree, fs::perms::owner_all, error);
            checked("cannot set permissions of", tree, error);
            corrected.push_back(tree.string());
        }
    }
    return corrected;
}

EnvFile ContainerStore::save(const std::string& name, const ContainerSpec& spec, const EnvFile& base) const {
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
    return conf;
}

void ContainerStore::saveConfigText(const std::string& name, const std::string& text) const {
    std::error_code error;
    fs::create_directories(settings_.configDir, error);
    checked("cannot create directory", settings_.configDir, error);
    const auto file = containerPaths(settings_, name, false).configTextFile;
    auto module = configModule(name, text);
    // A build wrote it just before the conf is saved: the same text is not
    // written (and fsync'ed) twice.
    if (std::ifstream current(file); current) {
        std::string held((std::istreambuf_iterator<char>(current)), std::istreambuf_iterator<char>());
        auto permissions = fs::status(file, error).permissions();
        const auto rootOnly = fs::perms::owner_read | fs::perms::owner_write;
        if (!error && held == module && (permissions & fs::perms::all) == rootOnly) {
            return;
        }
    }
    // Module text may hold secrets: for root only, as the builder runs.
    writeAtomically(file, module, 0600);
}

void ContainerStore::removeConf(const std::string& name) const {
    const auto paths = containerPaths(settings_, name, false);
    std::error_code error;
    fs::remove(paths.confFile, error);
    checked("cannot remove", paths.confFile, error);
    fs::remove(paths.configTextFile, error);
    checked("cannot remove", paths.configTextFile, error);
}

void ContainerStore::prepareRoot(const ContainerPaths& paths, bool copyResolvConf) const {
    const auto& root = paths.root;
    const auto open = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec;
    // The root's parents belong to the host; everything below it may have
    // been planted by the container's root user, so from here on each step
    // is relative to a directory fd and never follows a link.
    makeDirectory(root, open);
    UniqueFd rootFd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (rootFd.get() < 0) {
        throwIo("cannot open", root, errno);
    }
    auto etc = directoryBeneath(rootFd.get(), root, "etc", 0755);
    directoryBeneath(rootFd.get(), root, "var/lib", 0755);
    directoryBeneath(rootFd.get(), root, "usr", 0755);
    directoryBeneath(rootFd.get(), root, "var/lib/private", 0700);
    directoryBeneath(rootFd.get(), root, "root", 0700);
    createEmptyBeneath(etc.get(), root / "etc", "os-release");
    createEmptyBeneath(etc.get(), root / "etc", "machine-id");
    makeDirectory(paths.profileDir, open);
    makeDirectory(paths.gcrootsDir, open);

    // cp --remove-destination: whatever the container left there (a link
    // included) is replaced, never followed out of the root.
    std::error_code error;
    if (copyResolvConf && fs::exists(settings_.resolvConf, error)) {
        const auto resolvConf = readFile(settings_.resolvConf.native());
        if (!holdsExactly(etc.get(), "resolv.conf", resolvConf)) {
            replaceFileBeneath(etc.get(), root / "etc", "resolv.conf", resolvConf);
        }
    }
}

void ContainerStore::removeData(const ContainerPaths& paths) const {
    if (auto mount = mountBelow(paths.root)) {
        throw ContainerError(ErrorCode::IOError, "refusing to remove '" + paths.root.string() + "': '" +
                                                     *mount + "' is mounted below it");
    }
    std::error_code error;
    fs::remove_all(paths.root, error);
    checked("cannot remove", paths.root, error);
    // nspawn's lock file beside the root (.#NAME.lck): it removes it when it
    // exits cleanly, not when it is killed (a cancelled start, a stop timeout).
    const auto lock = paths.root.parent_path() / (".#" + paths.root.filename().string() + ".lck");
    if (auto status = fs::symlink_status(lock, error); fs::exists(status) && !fs::is_directory(status)) {
        fs::remove(lock, error);
        checked("cannot remove", lock, error);
    }
    removeProfile(paths);
}

void ContainerStore::removeProfile(const ContainerPaths& paths) const {
    for (const auto& path : {paths.profileDir, paths.gcrootsDir}) {
        std::error_code error;
        fs::remove_all(path, error);
        checked("cannot remove", path, error);
    }
}

}  // namespace nixos_containers
