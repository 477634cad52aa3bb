#pragma once

#include "system_seams.h"

#include <algorithm>
#include <deque>
#include <string>

namespace nixos_containers {

// Keeps the last lines of a child's output for an error message.
class OutputTail {
public:
    void add(const std::string& line) {
        if (line.find_first_not_of(" \t") == std::string::npos) {
            return;  // blank lines would only push the rest out
        }
        // Nix states what went wrong on its "error:" line, then shows where,
        // over more lines than the tail keeps: the headline stays.
        if (line.starts_with("error:")) {
            headline_ = line;
        }
        lines_.push_back(line);
        if (lines_.size() > kLines) {
            lines_.pop_front();
        }
    }
    [[nodiscard]] std::string text() const {
        std::string out;
        if (!headline_.empty() && std::find(lines_.begin(), lines_.end(), headline_) == lines_.end()) {
            out = headline_ + " | ...";
        }
        for (const auto& line : lines_) {
            out += (out.empty() ? "" : " | ") + line;
        }
        return out;
    }

private:
    static constexpr std::size_t kLines = 5;
    std::deque<std::string> lines_;
    std::string headline_;
};

inline std::string describeExit(const ProcessExit& exit) {
    return exit.signal != 0 ? "was killed by signal " + std::to_string(exit.signal)
                            : "exited with status " + std::to_string(exit.exitStatus);
}

}  // namespace nixos_containers
