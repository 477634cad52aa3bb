/* nc-run: a Run client for the sandbox tests (busctl cannot pass file
 * descriptors). Calls org.nixos.Containers Run with this process's stdin,
 * stdout and stderr, and prints the reply as busctl would ("ii STATUS
 * SIGNAL") on stdout, or "ERROR NAME: MESSAGE" on stderr (exit 1).
 *
 *   nc-run [--object] [--stdout-fd N] [--no-interactive] [--user U]
 *          [--env NAME=VALUE]... [--cwd DIR] [--raw-option KEY] [--repeat N]
 *          NAME COMMAND...
 *
 * --stdout-fd N passes descriptor N as the command's stdout instead of 1,
 * so the reply and the command's output stay apart. --object calls the
 * container's object (its path from GetContainer) instead of the manager.
 * --raw-option KEY adds the option KEY with the string "x" (for errors).
 * --repeat N makes the same call N times over one connection (as a GUI
 * would) and prints the mean latency per call on stderr.
 * Build: gcc -O2 -o nc-run nc-run.c -lsystemd */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>

static int fail(const char *what, int r) {
    fprintf(stderr, "nc-run: %s: %s\n", what, strerror(-r));
    return 2;
}

int main(int argc, char **argv) {
    int stdoutFd = 1, interactive = 1, object = 0, i = 1, r, repeat = 1;
    const char *user = NULL, *cwd = NULL, *raw = NULL, *env[65];
    int envs = 0;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--stdout-fd") == 0 && i + 1 < argc) stdoutFd = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-interactive") == 0) interactive = 0;
        else if (strcmp(argv[i], "--object") == 0) object = 1;
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) user = argv[++i];
        else if (strcmp(argv[i], "--cwd") == 0 && i + 1 < argc) cwd = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--raw-option") == 0 && i + 1 < argc) raw = argv[++i];
        else if (strcmp(argv[i], "--env") == 0 && i + 1 < argc && envs < 64) env[envs++] = argv[++i];
        else { fprintf(stderr, "nc-run: bad option %s\n", argv[i]); return 2; }
    }
    if (argc - i < 2) { fprintf(stderr, "usage: nc-run [options] NAME COMMAND...\n"); return 2; }
    const char *name = argv[i++];

    sd_bus *bus = NULL;
    sd_bus_message *call = NULL, *reply = NULL;
    sd_bus_error error = SD_BUS_ERROR_NULL;
    if ((r = sd_bus_open_system(&bus)) < 0) return fail("connect", r);
    char path[512] = "/org/nixos/Containers";
    if (object) {
        const char *p;
        r = sd_bus_call_method(bus, "org.nixos.Containers", "/org/nixos/Containers", "org.nixos.Containers",
                               "GetContainer", &error, &reply, "s", name);
        if (r < 0) { fprintf(stderr, "ERROR %s: %s\n", error.name, error.message); return 1; }
        if ((r = sd_bus_message_read(reply, "o", &p)) < 0) return fail("GetContainer reply", r);
        snprintf(path, sizeof path, "%s", p);
        reply = sd_bus_message_unref(reply);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int round = 0; round < repeat; round++) {
    call = sd_bus_message_unref(call);
    reply = sd_bus_message_unref(reply);
    r = sd_bus_message_new_method_call(bus, &call, "org.nixos.Containers", path,
                                       object ? "org.nixos.Containers.Container" : "org.nixos.Containers", "Run");
    if (r < 0) return fail("new call", r);
    sd_bus_message_set_allow_interactive_authorization(call, interactive);
    if (!object && (r = sd_bus_message_append(call, "s", name)) < 0) return fail("append", r);
    if ((r = sd_bus_message_append_strv(call, argv + i)) < 0) return fail("append argv", r);
    if ((r = sd_bus_message_open_container(call, 'a', "{sv}")) < 0) return fail("append", r);
    if (user && (r = sd_bus_message_append(call, "{sv}", "User", "s", user)) < 0) return fail("append", r);
    if (cwd && (r = sd_bus_message_append(call, "{sv}", "WorkingDirectory", "s", cwd)) < 0) return fail("append", r);
    if (raw && (r = sd_bus_message_append(call, "{sv}", raw, "s", "x")) < 0) return fail("append", r);
    if (envs > 0) {
        env[envs] = NULL;
        if ((r = sd_bus_message_open_container(call, 'e', "sv")) < 0 ||
            (r = sd_bus_message_append(call, "s", "Environment")) < 0 ||
            (r = sd_bus_message_open_container(call, 'v', "as")) < 0 ||
            (r = sd_bus_message_append_strv(call, (char **)env)) < 0 ||
            (r = sd_bus_message_close_container(call)) < 0 || (r = sd_bus_message_close_container(call)) < 0)
            return fail("append Environment", r);
    }
    if ((r = sd_bus_message_close_container(call)) < 0) return fail("append", r);
    if ((r = sd_bus_message_append(call, "hhh", 0, stdoutFd, 2)) < 0) return fail("append fds", r);
    /* No timeout of our own: the command decides how long it takes. */
    r = sd_bus_call(bus, call, UINT64_C(86400000000), &error, &reply);
    if (r < 0) {
        fprintf(stderr, "ERROR %s: %s\n", error.name ? error.name : "?", error.message ? error.message : strerror(-r));
        return 1;
    }
    int status = 0, sig = 0;
    if ((r = sd_bus_message_read(reply, "ii", &status, &sig)) < 0) return fail("reply", r);
    if (round + 1 == repeat) printf("ii %d %d\n", status, sig);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (repeat > 1)
        fprintf(stderr, "nc-run: %d calls, %ld us per call\n", repeat,
                ((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000) / repeat);
    return 0;
}
