#!/usr/bin/env bash
# nspawn-options.sh: print the option table the installed systemd-nspawn
# hands to getopt_long() (the short option string, then one line per long
# option: NAME HAS_ARG SHORT), as service/core/nspawn_options.cpp embeds it.
# It preloads a getopt_long() that prints its arguments and exits, so
# nothing of nspawn runs. Use it when systemd is upgraded and
# NspawnOptions.TableMatchesTheInstalledHelp goes red.
set -euo pipefail
work=$(mktemp -d /tmp/nspawn-options.XXXXXX)
[[ $work == /tmp/nspawn-options.?* && -d $work ]] || { echo "bad mktemp result '$work'" >&2; exit 1; }
trap 'rm -rf "$work"' EXIT
cat >"$work/dump.c" <<'C'
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
int getopt_long(int argc, char *const argv[], const char *shortopts, const struct option *longopts, int *index) {
    (void)argc; (void)argv; (void)index;
    printf("SHORT %s\n", shortopts);
    for (const struct option *o = longopts; o->name; o++)
        printf("LONG %s %d %c\n", o->name, o->has_arg, o->val > 32 && o->val < 127 ? o->val : '-');
    exit(0);
}
C
gcc -shared -fPIC -o "$work/dump.so" "$work/dump.c"
LD_PRELOAD=$work/dump.so "${1:-systemd-nspawn}" --help
