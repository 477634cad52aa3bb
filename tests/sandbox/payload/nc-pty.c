/* nc-pty: an OpenShell / OpenLogin client for the sandbox tests. Calls
 * org.nixos.Containers OpenShell or OpenLogin, then reads the terminal's
 * master it got back and copies what the container writes there to stdout,
 * until --expect's text appeared or --timeout passed. A master reads EIO
 * while no slave side is open (before the container's unit opens it, after a
 * getty's vhangup, after the shell ended); that is waited out, as machinectl
 * does. The terminal's name goes to stderr as "PTY /dev/pts/N";
 * a failed call prints "ERROR NAME: MESSAGE" on stderr and exits 1.
 *
 *   nc-pty [--no-interactive] [--object] [--expect TEXT] [--send TEXT]
 *          [--timeout MS] shell NAME USER PATH [ARGS...]
 *   nc-pty [same options] login NAME
 *
 * --send TEXT is written to the terminal once the other side first wrote
 * something (a prompt), as a person would type it.
 * Exit: 0 when TEXT appeared, or without --expect when --timeout passed;
 * 3 when TEXT did not appear in time; 2 on a local failure.
 * Build: gcc -O2 -o nc-pty nc-pty.c -lsystemd */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

static int fail(const char *what, int r) {
    fprintf(stderr, "nc-pty: %s: %s\n", what, strerror(-r));
    return 2;
}

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
    int interactive = 1, object = 0, i = 1, r;
    long timeout = 10000;
    const char *expect = NULL, *send = NULL;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--no-interactive") == 0) interactive = 0;
        else if (strcmp(argv[i], "--object") == 0) object = 1;
        else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) expect = argv[++i];
        else if (strcmp(argv[i], "--send") == 0 && i + 1 < argc) send = argv[++i];
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) timeout = atol(argv[++i]);
        else { fprintf(stderr, "nc-pty: bad option %s\n", argv[i]); return 2; }
    }
    int shell = i < argc && strcmp(argv[i], "shell") == 0;
    if (!((shell && argc - i >= 4) || (i < argc && strcmp(argv[i], "login") == 0 && argc - i == 2))) {
        fprintf(stderr, "usage: nc-pty [options] shell NAME USER PATH [ARGS...] | login NAME\n");
        return 2;
    }
    const char *name = argv[i + 1];

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
    r = sd_bus_message_new_method_call(bus, &call, "org.nixos.Containers", path,
                                       object ? "org.nixos.Containers.Container" : "org.nixos.Containers",
                                       shell ? "OpenShell" : "OpenLogin");
    if (r < 0) return fail("new call", r);
    sd_bus_message_set_allow_interactive_authorization(call, interactive);
    if (!object && (r = sd_bus_message_append(call, "s", name)) < 0) return fail("append", r);
    if (shell) {
        char *none[] = {NULL};
        if ((r = sd_bus_message_append(call, "ss", argv[i + 2], argv[i + 3])) < 0 ||
            (r = sd_bus_message_append_strv(call, argv + i + 4)) < 0 ||
            (r = sd_bus_message_append_strv(call, none)) < 0)
            return fail("append", r);
    }
    r = sd_bus_call(bus, call, UINT64_C(60000000), &error, &reply);
    if (r < 0) {
        fprintf(stderr, "ERROR %s: %s\n", error.name ? error.name : "?", error.message ? error.message : strerror(-r));
        return 1;
    }
    int master;
    const char *pty;
    if ((r = sd_bus_message_read(reply, "hs", &master, &pty)) < 0) return fail("reply", r);
    fprintf(stderr, "PTY %s\n", pty);

    char seen[65536] = "";
    size_t have = 0;
    long long deadline = now_ms() + timeout;
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) break;
        struct pollfd p = {.fd = master, .events = POLLIN};
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail("poll", -errno);
        if (r == 0) break;
        char buffer[4096];
        ssize_t n = read(master, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EIO) {
            /* No slave side open: before the container's unit opened it,
             * after a getty's vhangup(), or after the shell ended. Like
             * machinectl (PTY_FORWARD_IGNORE_VHANGUP), wait for more. */
            usleep(20000);
            continue;
        }
        if (n <= 0) {
            fflush(stdout);
            return expect && !strstr(seen, expect) ? 3 : 0;
        }
        fwrite(buffer, 1, (size_t)n, stdout);
        /* Typed once the other side wrote something (its prompt): input
         * sent earlier is flushed when the unit sets the terminal up. */
        if (send) {
            if (write(master, send, strlen(send)) < 0) return fail("write", -errno);
            send = NULL;
        }
        if (have + (size_t)n < sizeof seen - 1) {
            memcpy(seen + have, buffer, (size_t)n);
            have += (size_t)n;
        }
        seen[have] = 0;
        if (expect && strstr(seen, expect)) {
            fflush(stdout);
            return 0;
        }
    }
    fflush(stdout);
    if (!expect) return 0;
    fprintf(stderr, "nc-pty: expected text not seen after %ld ms\n", timeout);
    return 3;
}
