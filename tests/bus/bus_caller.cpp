// bus_caller: calls one org.nixos.Containers method and prints the D-Bus
// error *name* on failure, which busctl does not (it prints the message
// only). The tests run it under setpriv as unprivileged uids.
//
//   bus_caller ADDRESS [--interactive] METHOD [NAME [KEY=s:VALUE|KEY=b:true ...]]
//
// Prints "OK" (plus the returned path or string) or "ERROR NAME: MESSAGE"
// and exits 0 or 2.
#include <systemd/sd-bus.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: bus_caller ADDRESS [--interactive] METHOD [NAME [KEY=s:VALUE|KEY=b:BOOL ...]]\n");
    return 64;
}

int appendSpec(sd_bus_message* message, const std::vector<std::string>& entries) {
    int r = sd_bus_message_open_container(message, 'a', "{sv}");
    for (const auto& entry : entries) {
        auto equals = entry.find('=');
        if (r < 0 || equals == std::string::npos || entry.size() < equals + 3 || entry[equals + 2] != ':') {
            return r < 0 ? r : -EINVAL;
        }
        const auto key = entry.substr(0, equals);
        const char type = entry[equals + 1];
        const auto value = entry.substr(equals + 3);
        r = sd_bus_message_open_container(message, 'e', "sv");
        if (r >= 0)
            r = sd_bus_message_append(message, "s", key.c_str());
        if (type == 'b') {
            if (r >= 0)
                r = sd_bus_message_append(message, "v", "b", value == "true" ? 1 : 0);
        } else {
            if (r >= 0)
                r = sd_bus_message_append(message, "v", "s", value.c_str());
        }
        if (r >= 0)
            r = sd_bus_message_close_container(message);
    }
    if (r >= 0)
        r = sd_bus_message_close_container(message);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 2) {
        return usage();
    }
    const std::string address = args[0];
    std::size_t next = 1;
    bool interactive = false;
    if (args[next] == "--interactive") {
        interactive = true;
        ++next;
    }
    if (next >= args.size()) {
        return usage();
    }
    const std::string method = args[next++];

    sd_bus* bus = nullptr;
    int r = sd_bus_new(&bus);
    if (r >= 0)
        r = sd_bus_set_address(bus, address.c_str());
    if (r >= 0)
        r = sd_bus_set_bus_client(bus, 1);
    if (r >= 0)
        r = sd_bus_start(bus);
    if (r < 0) {
        std::printf("CONNECT FAILED: %s\n", std::strerror(-r));
        return 3;
    }
    sd_bus_message* call = nullptr;
    r = sd_bus_message_new_method_call(bus, &call, "org.nixos.Containers", "/org/nixos/Containers",
                                       "org.nixos.Containers", method.c_str());
    if (r >= 0 && interactive)
        r = sd_bus_message_set_allow_interactive_authorization(call, 1);
    if (r >= 0 && method != "List") {
        if (next >= args.size()) {
            return usage();
        }
        r = sd_bus_message_append(call, "s", args[next++].c_str());
    }
    if (r >= 0 && (method == "Create" || method == "Update")) {
        r = appendSpec(call, std::vector<std::string>(args.begin() + static_cast<long>(next), args.end()));
    }
    if (r < 0) {
        std::printf("BAD ARGUMENTS: %s\n", std::strerror(-r));
        return 64;
    }
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    r = sd_bus_call(bus, call, std::uint64_t{20} * 1000 * 1000, &error, &reply);
    int status = 0;
    if (r < 0) {
        std::printf("ERROR %s: %s\n", error.name ? error.name : "(none)",
                    error.message ? error.message : std::strerror(-r));
        status = 2;
    } else if (method == "Create" || method == "GetContainer") {
        const char* path = nullptr;
        sd_bus_message_read(reply, "o", &path);
        std::printf("OK %s\n", path ? path : "");
    } else if (method == "Inspect") {
        const char* json = nullptr;
        sd_bus_message_read(reply, "s", &json);
        std::printf("OK %s\n", json ? json : "");
    } else {
        std::printf("OK\n");
    }
    sd_bus_error_free(&error);
    sd_bus_message_unref(reply);
    sd_bus_message_unref(call);
    sd_bus_flush_close_unref(bus);
    return status;
}
