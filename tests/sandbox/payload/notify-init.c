/*
 * notify-init: the container-side readiness helper of the sandbox payloads.
 *
 * systemd-nspawn --notify-ready=yes forwards READY=1 only when it comes from
 * the container's PID 1, and a shell cannot write to a datagram socket, so
 * this static helper does it for the payload's busybox shell.
 *
 *   notify-init CMD ARGS...
 *       Send READY=1 to $NOTIFY_SOCKET, then exec CMD (PID 1 stays PID 1).
 *
 *   notify-init --on-usr1 CMD ARGS...
 *       Stay PID 1: run CMD as a child, forward stop signals to it
 *       (SIGRTMIN+3, SIGTERM, SIGINT, SIGHUP), send READY=1 only when the
 *       child sends SIGUSR1 ("kill -USR1 1" once it has recorded its state and
 *       installed its traps), reap every process, and exit with the child's
 *       status (128+N if it was killed by signal N).
 *       Why: after a plain exec there is a window in which the shell has not
 *       yet installed its trap; a stop signal arriving then is dropped, because
 *       the kernel discards unhandled signals to a PID namespace's init, and
 *       the container then only dies at the stop timeout.  A signal mask does
 *       not help: busybox sh never unblocks signals inherited as blocked.
 *
 * A missing NOTIFY_SOCKET is not an error (the payload can run without
 * nspawn); a failing send is reported on stderr and is not fatal.
 * Build: gcc -static -O2 -o notify-init notify-init.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void notify_ready(void) {
    const char* path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        fprintf(stderr, "notify-init: NOTIFY_SOCKET too long\n");
        return;
    }
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@') /* abstract namespace socket */
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("notify-init: socket");
        return;
    }
    static const char msg[] = "READY=1";
    if (sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, (struct sockaddr*)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
        perror("notify-init: sendto NOTIFY_SOCKET");
    close(fd);
}

static volatile sig_atomic_t ready_requested;
static volatile sig_atomic_t pending_signal;

static void on_signal(int sig) {
    /* SIGCHLD only wakes sigsuspend(): it must not overwrite a stop signal
     * that came with it. Orphans of the container's PID namespace (a
     * command the service ran in it and killed) die as PID 1's children,
     * and their SIGCHLD can come together with the halt's SIGRTMIN+3. */
    if (sig == SIGUSR1)
        ready_requested = 1;
    else if (sig != SIGCHLD)
        pending_signal = sig;
}

static int supervise(char** argv) {
    const int forwarded[] = {SIGRTMIN + 3, SIGTERM, SIGINT, SIGHUP};
    sigset_t all, old;
    sigfillset(&all);
    /* Handlers are installed before the fork, and signals stay blocked
     * except inside sigsuspend(), so none can be lost in between. */
    sigprocmask(SIG_BLOCK, &all, &old);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaction(forwarded[i], &sa, NULL);

    pid_t child = fork();
    if (child < 0) {
        perror("notify-init: fork");
        return 1;
    }
    if (child == 0) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigemptyset(&dfl.sa_mask);
        sigaction(SIGUSR1, &dfl, NULL);
        sigaction(SIGCHLD, &dfl, NULL);
        for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
            sigaction(forwarded[i], &dfl, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execv(argv[0], argv);
        perror("notify-init: exec");
        _exit(127);
    }

    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGUSR1);
    sigdelset(&wait_mask, SIGCHLD);
    for (;;) {
        int status;
        pid_t pid;
        /* Reap everything: as PID 1 we inherit every orphan. */
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid == child)
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (pid < 0 && errno == ECHILD)
            return 1;
        if (ready_requested) {
            ready_requested = 0;
            notify_ready();
        }
        if (pending_signal) {
            int sig = pending_signal;
            pending_signal = 0;
            kill(child, sig);
        }
        sigsuspend(&wait_mask);
    }
}

int main(int argc, char** argv) {
    if (argc >= 3 && strcmp(argv[1], "--on-usr1") == 0)
        return supervise(argv + 2);
    if (argc < 2) {
        fprintf(stderr, "usage: notify-init [--on-usr1] CMD [ARGS...]\n");
        return 2;
    }
    notify_ready();
    execv(argv[1], argv + 1);
    perror("notify-init: exec");
    return 127;
}
