// ContainerStore's profile, as nix-env keeps one: a link to the current
// generation, and a link per generation (PROFILE-N-link) to its system.
#include "container_store.h"

#include "errors.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <optional>
#include <string_view>
#include <system_error>

namespace nixos_containers {

namespace fs = std::filesystem;

namespace {

void checked(const std::string& what, const fs::path& path, const std::error_code& error) {
    if (error) {
        throw ContainerError(ErrorCode::IOError,
                             what + " '" + path.string() + "': " + std::strerror(error.value()));
    }
}

}  // namespace

namespace {

constexpr std::string_view kGenerationSuffix = "-link";

// N of "system-N-link", when `entry` is one of PROFILE's generation links.
std::optional<std::uint32_t> generationNumber(std::string_view entry, std::string_view profile) {
    if (entry.size() <= profile.size() + 1 + kGenerationSuffix.size() || !entry.starts_with(profile) ||
        entry[profile.size()] != '-' || !entry.ends_with(kGenerationSuffix)) {
        return std::nullopt;
    }
    auto digits =
        entry.substr(profile.size() + 1, entry.size() - profile.size() - 1 - kGenerationSuffix.size());
    std::uint32_t number = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (error != std::errc{} || end != digits.data() + digits.size() || number == 0) {
        return std::nullopt;
    }
    return number;
}

std::string generationLinkName(const fs::path& profile, std::uint32_t number) {
    return profile.filename().string() + "-" + std::to_string(number) + std::string(kGenerationSuffix);
}

// PROFILE -> TARGET, atomically (a temporary link renamed over it).
void switchLink(const fs::path& profile, const fs::path& target) {
    std::error_code error;
    auto temporary = profile;
    temporary += ".tmp";
    fs::remove(temporary, error);
    fs::create_symlink(target, temporary, error);
    checked("cannot create link", temporary, error);
    fs::rename(temporary, profile, error);
    checked("cannot replace", profile, error);
}

std::uint64_t linkTimeUsec(const fs::path& link) {
    struct stat info {};
    if (::lstat(link.c_str(), &info) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(info.st_mtim.tv_sec) * 1'000'000U +
           static_cast<std::uint64_t>(info.st_mtim.tv_nsec) / 1000U;
}

}  // namespace

std::vector<Generation> ContainerStore::generations(const ContainerPaths& paths) const {
    std::vector<Generation> found;
    std::error_code error;
    const auto profile = paths.systemLink.filename().string();
    const auto current = fs::read_symlink(paths.systemLink, error).string();
    for (fs::directory_iterator entry(paths.profileDir, error), end; !error && entry != end;
         entry.increment(error)) {
        const auto name = entry->path().filename().string();
        auto number = generationNumber(name, profile);
        if (!number) {
            continue;
        }
        std::error_code linkError;
        auto system = fs::read_symlink(entry->path(), linkError);
        if (linkError) {
            continue;
        }
        found.push_back({*number, system.string(), linkTimeUsec(entry->path()), current == name});
    }
    std::sort(found.begin(), found.end(),
              [](const Generation& a, const Generation& b) { return a.number < b.number; });
    return found;
}

void ContainerStore::linkSystem(const ContainerPaths& paths, const fs::path& systemOnHost) const {
    std::error_code error;
    fs::create_directories(paths.profileDir, error);
    checked("cannot create directory", paths.profileDir, error);
    fs::create_directories(paths.gcrootsDir, error);
    checked("cannot create directory", paths.gcrootsDir, error);
    auto existing = generations(paths);
    const auto direct = fs::read_symlink(paths.systemLink, error);
    if (existing.empty() && !error && !direct.empty()) {
        // Made before generations: the system it runs becomes generation 1.
        const auto first = paths.profileDir / generationLinkName(paths.systemLink, 1);
        fs::create_symlink(direct, first, error);
        checked("cannot create link", first, error);
        switchLink(paths.systemLink, first.filename());
        existing = generations(paths);
    }
    auto current =
        std::find_if(existing.begin(), existing.end(), [](const Generation& g) { return g.current; });
    if (current != existing.end() && current->system == systemOnHost.string()) {
        return;
    }
    const std::uint32_t next = existing.empty() ? 1 : existing.back().number + 1;
    const auto link = paths.profileDir / generationLinkName(paths.systemLink, next);
    fs::remove(link, error);
    fs::create_symlink(systemOnHost, link, error);
    checked("cannot create link", link, error);
    // Relative, as nix-env makes it: the profile directory can move.
    switchLink(paths.systemLink, link.filename());
}

Generation ContainerStore::rollBack(const ContainerPaths& paths, const std::string& name) const {
    auto existing = generations(paths);
    auto current =
        std::find_if(existing.begin(), existing.end(), [](const Generation& g) { return g.current; });
    if (current == existing.end() || current == existing.begin()) {
        throw ContainerError(
            ErrorCode::InvalidArgument,
            "container '" + name + "' has no generation older than the current one" +
                (current == existing.end() ? "" : " (" + std::to_string(current->number) + ")"));
    }
    return switchGeneration(paths, name, std::prev(current)->number);
}

Generation ContainerStore::switchGeneration(const ContainerPaths& paths, const std::string& name,
                                            std::uint32_t number) const {
    auto existing = generations(paths);
    checkGenerationSwitch(existing, name, number);
    auto target = *std::find_if(existing.begin(), existing.end(),
                                [number](const Generation& g) { return g.number == number; });
    switchLink(paths.systemLink, generationLinkName(paths.systemLink, target.number));
    target.current = true;
    return target;
}

void checkGenerationSwitch(const std::vector<Generation>& generations, const std::string& name,
                           std::uint32_t number) {
    std::string numbers;
    const Generation* target = nullptr;
    for (const auto& generation : generations) {
        numbers += (numbers.empty() ? "" : ", ") + std::to_string(generation.number);
        if (generation.number == number) {
            target = &generation;
        }
    }
    if (target == nullptr) {
        throw ContainerError(ErrorCode::InvalidArgument,
                             "container '" + name + "' has no generation " + std::to_string(number) +
                                 (numbers.empty() ? "; it has none" : "; it has " + numbers));
    }
    if (target->current) {
        throw ContainerError(ErrorCode::InvalidArgument, "container '" + name + "' runs generation " +
                                                             std::to_string(number) + " already");
    }
}

}  // namespace nixos_containers
