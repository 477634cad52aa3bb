#!/usr/bin/env bash
# cli_completion_test.sh BIN_DIR COMPLETION_FILE: cli/nixos-container.bash
# against the built binary's tables, without a service (no container names):
# a flag's value by its metavar (FILE files, HOST hosts), a command after
# `run NAME --`, and a flag's value never taken for the verb.
# shellcheck disable=SC2016 # the completion runs in a bash of its own
set -uo pipefail
BIN_DIR=$1 COMPLETION=$2
WORK=$(mktemp -d) || exit 1
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/files" "$WORK/bin"
touch "$WORK/files/container.nix" "$WORK/files/other.nix"
printf '#!/bin/sh\n' >"$WORK/bin/nc-test-command"
chmod 0755 "$WORK/bin/nc-test-command"
printf '127.0.0.1 nc-test-host.example\n127.0.0.2 nc-test-other.example\n' >"$WORK/hosts"
failed=0

# complete WORD...: COMPREPLY, space-separated, for the last word.
complete_words() {
    env -i PATH="$BIN_DIR:$WORK/bin:/usr/bin:/bin" HOSTFILE="$WORK/hosts" HOME="$WORK" \
        bash --norc -c 'source "$1"; shift; COMP_WORDS=(nixos-container "$@"); COMP_CWORD=$#; _nixos_container; ((${#COMPREPLY[@]} == 0)) || printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
        complete "$COMPLETION" "$@"
}
expect() { # WANT WORD...
    local want=$1 got
    shift
    got=$(complete_words "$@")
    if [[ $got == "$want" ]]; then
        echo "PASS: '$*' -> '$got'"
    else
        echo "FAIL: '$*' -> '$got', want '$want'"
        failed=1
    fi
}

expect "start status stop " st
expect "--config --config-file " create web --conf
expect "$WORK/files/container.nix " create web --config-file "$WORK/files/con"
expect "$WORK/files/container.nix " update web --nixos-path "$WORK/files/con"
expect "nc-test-host.example " -H nc-test-h
expect "root@nc-test-host.example " -H root@nc-test-h
expect "nc-test-other.example " --host nc-test-o
expect "nc-test-command " run web -- nc-test-comm
expect "$WORK/files/other.nix " run web -- nc-test-command "$WORK/files/ot"
# The host is -H's value, not the verb: the verb comes next.
expect "start status stop " -H nc-test-host.example st
# A value that is not a file or a host is not guessed.
expect "" create web --port 8
exit $failed
