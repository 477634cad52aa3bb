#include "bus_names.h"

namespace nixos_containers {

namespace {
int hexValue(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}
}  // namespace

std::string busLabelEscape(std::string_view label) {
    if (label.empty()) {
        return "_";
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : label) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (plain) {
            out += c;
        } else {
            auto byte = static_cast<unsigned char>(c);
            out += '_';
            out += kHex[byte >> 4];
            out += kHex[byte & 0xf];
        }
    }
    return out;
}

std::string busLabelUnescape(std::string_view label) {
    if (label == "_") {
        return "";
    }
    std::string out;
    for (std::size_t i = 0; i < label.size(); ++i) {
        if (label[i] == '_' && i + 2 < label.size() + 0 && hexValue(label[i + 1]) >= 0 &&
            hexValue(label[i + 2]) >= 0) {
            out += static_cast<char>(hexValue(label[i + 1]) * 16 + hexValue(label[i + 2]));
            i += 2;
        } else {
            out += label[i];
        }
    }
    return out;
}

}  // namespace nixos_containers
