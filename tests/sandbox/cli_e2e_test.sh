#!/usr/bin/env bash
# cli_e2e_test.sh — the nixos-container CLI (issue 12), installed by
# cmake --install, against the real service under real systemd, machined,
# polkitd and nspawn.
#
# Scenarios:
#   1  the old tool's verbs and output: create (host IP line on stderr, the
#      free 10.233 pair, --ensure-unique-name, addresses, ports, auto-start),
#      list, status up/down/gone, start, stop, restart, terminate, show-ip,
#      show-host-key, run (exit status, signal, stdin), destroy (twice)
#   2  what the old tool lacks: list --json, show (--json), watch, exit codes
#      per error class, refused flags, a build's output live on stderr
#   3  polkit: a denied user; a challenged user with --no-ask-password,
#      without a terminal, and at a terminal (the text agent asks)
#   4  login and root-login through a pseudo-terminal, on the payload that
#      boots real systemd (^]^]^] ends a login); and without a terminal:
#      piped input reaches the shell, end of input ends the session
#   5  a script written for the old tool runs unchanged
#   6  the service stopped: exit 8 and how to start it
#   (2 also: -H through ssh and systemd-stdio-bridge, with an ssh that
#   only stands in for the network; bash completion of verbs and names)
#
# Runs as root (exit 77 otherwise). The last line is "N passed, M failed".
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin cli
BOUNDED_VARS+=(OK B NC NC_USERS HERE PTY_DRIVE PTY_DRIVE_USERS S SYSD)

# ------------------------------------------------------------- helpers ---
# cli_as UID ARGS...: the CLI as root (0) or a test user, stdin from /dev/null.
cli_as() {
    local uid=$1
    shift
    if ((uid == 0)); then in_sb "$NC" "$@" </dev/null; else as_user "$uid" "$NC_USERS" "$@" </dev/null; fi
}
cli() { cli_as 0 "$@"; }
# expect_exit CODE TEXT ARGS...: the CLI (as root) exits CODE and its stderr has TEXT.
expect_exit() {
    local want=$1 text=$2 rc=0
    shift 2
    cli "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    echo "exit $rc; stdout: $(head -c 300 "$WORK/out"); stderr: $(head -c 300 "$WORK/err")"
    ((rc == want)) && has -F -- "$text" "$WORK/err"
}
# expect_out TEXT ARGS...: exit 0 and stdout is exactly TEXT.
expect_out() {
    local want=$1 out
    shift
    out=$(cli "$@") || { echo "failed: $out"; return 1; }
    echo "stdout: '$out'"
    [[ $out == "$want" ]]
}

# ------------------------------------------------------------------- up ---
scenario "0  sandbox up, payloads, the installed CLI"
sandbox_up
OK=$("$MAKE_SYSTEM" "$DIR/store" sysok ok) || { fail "make-system"; exit 1; }
B=$OK/bin
NC=$DIR/prefix/bin/nixos-container
PTY_DRIVE=$HERE/payload/pty_drive.py
check "nixos-container is installed ($NC)" test -x "$NC"
# The sandbox's DIR is root's alone: the test users run a copy.
chmod 0711 "$WORK"
NC_USERS=$WORK/nixos-container
check "a copy for the test users" install -m 0755 "$NC" "$NC_USERS"
# So is the terminal driver: the checkout may sit where they cannot enter
# (root's home, 0700; sandbox_cli_e2e_private_parent runs from such a place).
PTY_DRIVE_USERS=$WORK/pty_drive.py
check "the terminal driver, copied for the test users" install -m 0644 "$PTY_DRIVE" "$PTY_DRIVE_USERS"
check "its man page and bash completion are installed" \
    test -s "$DIR/prefix/share/man/man1/nixos-container.1" -a -s "$DIR/prefix/share/bash-completion/completions/nixos-container"
man_has_every_verb() {
    local verb
    for verb in $(in_sb "$NC" _complete verbs); do
        has -F ".B ${verb//-/\\-} " "$DIR/prefix/share/man/man1/nixos-container.1" || { echo "missing $verb"; return 1; }
    done
}
check "the man page has every verb" man_has_every_verb

# ------------------------------------------------------------ scenario 1 ---
scenario "1  the old tool's verbs and output"
create_web() {
    local rc=0
    cli create web --system-path "$OK" >"$WORK/out" 2>"$WORK/err" || rc=$?
    cat "$WORK/out" "$WORK/err"
    ((rc == 0)) && [[ ! -s $WORK/out ]] && has -E '^host IP is 10\.233\.[0-9]+\.1, container IP is 10\.233\.[0-9]+\.2$' "$WORK/err"
}
check "create web: 'host IP is 10.233.N.1, container IP is 10.233.N.2' on stderr, nothing on stdout" create_web
check "list prints one name a line" expect_out "web" list
check "status web: down" expect_out down status web
check "start web" cli start web
check "status web: up" expect_out up status web
show_ip_agrees() {
    local ip
    ip=$(cli show-ip web) || return 1
    echo "show-ip: $ip"
    has -F "container IP is $ip" "$WORK/err" || [[ $ip =~ ^10\.233\.[0-9]+\.2$ ]]
}
check "show-ip web prints the container's address" show_ip_agrees
run_status() {
    local rc=0
    cli run web -- "$B/sh" -c 'exit 3' || rc=$?
    echo "exit $rc"
    ((rc == 3))
}
check "run web -- sh -c 'exit 3' exits 3" run_status
run_signal() {
    local rc=0
    cli run web -- "$B/sh" -c 'kill -9 $$' || rc=$?
    echo "exit $rc"
    ((rc == 137))
}
check "run killed by SIGKILL exits 137 (128+9)" run_signal
run_stdin() {
    local out
    out=$(printf 'hello-cli\n' | in_sb "$NC" run web -- "$B/cat") || return 1
    echo "stdout '$out'"
    [[ $out == hello-cli ]]
}
check "run passes stdin and stdout through" run_stdin
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICliTestKey root@web'
mkdir -p "$(root_of web)/etc/ssh"
printf '%s\n' "$KEY" >"$(root_of web)/etc/ssh/ssh_host_ed25519_key.pub"
check "show-host-key web prints the key" expect_out "$KEY" show-host-key web
check "create web again: exit 5 (name in use), the service's message" expect_exit 5 "web" create web --system-path "$OK"
check "create web --ensure-unique-name prints web-0" expect_out web-0 create web --ensure-unique-name --system-path "$OK"
addresses() {
    cli create addr --system-path "$OK" --host-address 10.250.0.1 --local-address 10.250.0.2 2>"$WORK/err" || return 1
    cat "$WORK/err"
    has -Fx "host IP is 10.250.0.1, container IP is 10.250.0.2" "$WORK/err" && [[ $(cli show-ip addr) == 10.250.0.2 ]]
}
check "--host-address/--local-address are the container's pair" addresses
ports_and_autostart() {
    cli create pf --system-path "$OK" --port 8080:80,udp:5353 --auto-start 2>/dev/null || return 1
    local ports auto
    ports=$(in_sb busctl get-property "$BUS_NAME" "$(opath pf)" "$CT_IF" ForwardPorts) && auto=$(prop pf AutoStart) || return 1
    echo "ForwardPorts: $ports; AutoStart: $auto"
    [[ $ports == 'a(sqq) 2 "tcp" 8080 80 "udp" 5353 5353' && $auto == true ]]
}
check "--port and --auto-start become ForwardPorts and AutoStart" ports_and_autostart
check "stop web" cli stop web
check "status web: down after stop" expect_out down status web
check "restart web" cli restart web
check "status web: up after restart" expect_out up status web
# reload: switch-to-configuration test inside, the same Leader.
reloaded_in_place() {
    local before after log
    before=$(prop web Leader) || return 1
    log="$DIR/state/web/var/log/switch.log"
    local n0=0
    [[ -f $log ]] && n0=$(grep -c '^switch-to-configuration test$' "$log")
    cli reload web || return 1
    after=$(prop web Leader) || return 1
    echo "Leader $before -> $after; switch.log: $(grep -c '^switch-to-configuration test$' "$log")"
    [[ $before =~ ^[1-9][0-9]*$ && $before == "$after" && $(grep -c '^switch-to-configuration test$' "$log") == $((n0 + 1)) ]]
}
check "reload web: switch-to-configuration test ran, same Leader" reloaded_in_place
check "terminate web" cli terminate web
check "status web: down after terminate" expect_out down status web
check "destroy web" cli destroy web
gone() {
    local out rc=0
    out=$(cli status web) || rc=$?
    echo "stdout '$out', exit $rc"
    [[ $out == gone ]] && ((rc == 3))
}
check "status web: gone (exit 3)" gone
check "destroy of what is not there: exit 0, as the old tool" cli destroy web

# ------------------------------------------------------------ scenario 2 ---
scenario "2  beyond the old tool: JSON, show, watch, exit codes, build output"
list_json() {
    local out
    out=$(cli list --json) || return 1
    echo "$out"
    python3 -c 'import json,sys; rows=json.load(sys.stdin); names=sorted(r["name"] for r in rows); assert names==["addr","pf","web-0"], names; assert all(r["state"]=="stopped" for r in rows)' <<<"$out"
}
check "list --json: name, state, declarative, object" list_json
show_json() {
    local out
    out=$(cli show addr --json) || return 1
    echo "$out" | head -20
    python3 -c 'import json,sys; d=json.load(sys.stdin); s=json.dumps(d); assert "10.250.0.2" in s, s' <<<"$out"
}
check "show addr --json has its address" show_json
show_text() {
    local out
    out=$(cli show addr) || return 1
    echo "$out" | head -20
    has -E '^[A-Za-z]+: ' <<<"$out" && has -F 10.250.0.2 <<<"$out"
}
check "show addr: one 'key: value' a line" show_text
watch_states() {
    in_sb "$NC" watch >"$WORK/watch.out" 2>&1 </dev/null &
    local pid=$! ok=0
    sleep 0.5
    cli start addr && cli stop addr && poll 5000 has -Fx "addr stopped" "$WORK/watch.out" &&
        has -Fx "addr running" "$WORK/watch.out" && has -Fx "addr starting" "$WORK/watch.out" || ok=1
    kill "$pid"
    wait "$pid" 2>/dev/null
    cat "$WORK/watch.out"
    return $ok
}
check "watch prints state changes live (starting, running, stopped)" watch_states
remote_host() {
    # sd-bus reaches HOST as busctl -H does: "ssh -xT -- HOST
    # systemd-stdio-bridge". This ssh stands in for the network only: it logs
    # the host it was asked for and runs the bridge here.
    mkdir -p "$WORK/fake-ssh"
    printf '#!/bin/sh\necho "ssh $*" >>%s/fake-ssh/calls\nwhile [ "$1" != -- ]; do shift; done\nshift 2\nexec "$@"\n' "$WORK" >"$WORK/fake-ssh/ssh"
    chmod 0755 "$WORK/fake-ssh/ssh"
    local out
    out=$(in_sb env PATH="$WORK/fake-ssh:/usr/bin:/bin" "$NC" -H root@far.example list) || { echo "$out"; return 1; }
    echo "list over -H: $(tr '\n' ' ' <<<"$out"); ssh calls: $(cat "$WORK/fake-ssh/calls")"
    has -Fx addr <<<"$out" && has -F -- "-- root@far.example systemd-stdio-bridge" "$WORK/fake-ssh/calls"
}
check "-H USER@HOST reaches the service through ssh and systemd-stdio-bridge" remote_host
completion() {
    local verbs names
    verbs=$(in_sb env PATH="$DIR/prefix/bin:/usr/bin:/bin" bash -c 'source "$1"; COMP_WORDS=(nixos-container st); COMP_CWORD=1; _nixos_container; echo "${COMPREPLY[*]}"' \
        complete "$DIR/prefix/share/bash-completion/completions/nixos-container")
    names=$(in_sb env PATH="$DIR/prefix/bin:/usr/bin:/bin" bash -c 'source "$1"; COMP_WORDS=(nixos-container start ad); COMP_CWORD=2; _nixos_container; echo "${COMPREPLY[*]}"' \
        complete "$DIR/prefix/share/bash-completion/completions/nixos-container")
    echo "verbs for 'st': '$verbs'; names for 'start ad': '$names'"
    [[ $verbs == "start stop status" && $names == addr ]]
}
check "bash completion: verbs, and container names from the service" completion
check "update of a --system-path container without a source: exit 5, says why" expect_exit 5 "no source to rebuild from" update addr
check "start nosuch: exit 3 (no such container)" expect_exit 3 "nosuch" start nosuch
check "an unknown verb: exit 2" expect_exit 2 "unknown action 'frobnicate'" frobnicate x
check "no verb: exit 2" expect_exit 2 "no action specified"
verb_help() { # VERB HAS HAS_NOT: VERB --help is its own
    local out
    out=$(cli "$1" --help) || return 1
    echo "$out"
    [[ $(head -n 1 <<<"$out") == "Usage: nixos-container [OPTIONS] $1"* ]] && has -F -- "$2" <<<"$out" &&
        ! has -F -- "$3" <<<"$out" && ! has -Fx "Verbs:" <<<"$out"
}
check "create --help: create's usage and flags, not the global help" verb_help create "--config-file FILE" "--json"
check "list --help: list's usage and --json" verb_help list "--json" "--config-file"
check "a verb without its name: exit 2" expect_exit 2 "no container name specified" start
check "--host-address without --local-address: exit 2" expect_exit 2 "--local-address is required" create x --system-path "$OK" --host-address 10.1.1.1
check "a Nix pass-through flag without a build: the service refuses it (exit 5)" \
    expect_exit 5 "NixFlags are passed to a build" create x --system-path "$OK" --impure
check "a pass-through flag that only nix build takes, with --config: exit 5, says so" \
    expect_exit 5 "NixFlags '--impure' is a flag of \`nix build\`" create x --config '{ }' --impure
check "--nixos-path is carried as NixosPath: with --system-path the service refuses it (exit 5)" \
    expect_exit 5 "NixosPath is what a Config or ConfigFile is built with" create x --system-path "$OK" --nixos-path /tmp
check "a bad name: exit 5 (invalid argument), the service's message" expect_exit 5 "name" create 'a/b' --system-path "$OK"
build_output() {
    local rc=0
    cli create flk --flake /nonexistent/flake --impure --option cores 1 >"$WORK/out" 2>"$WORK/err" || rc=$?
    cat "$WORK/err"
    # Nix's own line comes to stderr as it is printed (BuildOutput), then
    # the service's BuildFailed message.
    ((rc == 1)) && has -F "error: getting status of '/nonexistent/flake'" "$WORK/err" && ! cli status flk >/dev/null 2>&1
}
check "a failed build: Nix's output on stderr, exit 1, no container left" build_output
flake_attribute() {
    local flake=$WORK/flake sys
    mkdir -p "$flake"
    # Its nixpkgs input does not exist: only --override-input makes it build.
    printf '%s\n' '{' "  inputs.nixpkgs.url = \"path:$DIR/no-such-nixpkgs\";" \
        '  outputs = { self, nixpkgs }: {' \
        '    nixosConfigurations.container = nixpkgs.lib.nixosSystem { modules = [ { payload.message = "cli flake"; } ]; };' \
        '  };' '}' >"$flake/flake.nix"
    cli create flk --flake "$flake" --override-input nixpkgs "path:$DIR/nixpkgs" --option cores 1 || return 1
    sys=$(prop flk SystemPath) || return 1
    echo "SystemPath $sys"
    [[ $(cat "$DIR/store/${sys#/nix/store/}/message") == "cli flake" ]] && cli destroy flk
}
check "a flake without #attr builds nixosConfigurations.container, as the old tool; the pass-through flags reach nix build" flake_attribute

# ------------------------------------------------------------ scenario 3 ---
scenario "3  polkit: denied, challenged, the text agent"
denied() {
    local rc=0
    cli_as "$U_DENIED" start addr 2>"$WORK/err" || rc=$?
    cat "$WORK/err"
    ((rc == 4))
}
check "nc-denied start: exit 4" denied
allowed() { cli_as "$U_ALLOWED" start addr && cli_as "$U_ALLOWED" stop addr; }
check "nc-allowed start and stop work" allowed
challenged() { # ARGS...: as nc-challenged, without a terminal
    local rc=0
    cli_as "$U_CHALLENGED" "$@" start addr 2>"$WORK/err" || rc=$?
    cat "$WORK/err"
    # What to do, in a CLI user's words: not the API's flag.
    ((rc == 4)) && has -F "must authenticate for org.nixos.containers.manage (start 'addr')" "$WORK/err" &&
        has -F "run nixos-container at a terminal, without --no-ask-password" "$WORK/err" &&
        has -F "ask an administrator" "$WORK/err" && ! has -F "interactive authorization" "$WORK/err"
}
check "nc-challenged with --no-ask-password: exit 4" challenged --no-ask-password
check "nc-challenged without a terminal (no agent to ask): exit 4" challenged
service_on_the_flag() { # FLAG SAYS SAYS_NOT: the service's own refusal, through gdbus
    local out flag=()
    [[ -z $1 ]] || flag=("$1")
    out=$(as_user "$U_CHALLENGED" gdbus call --system --timeout 30 "${flag[@]}" -d "$BUS_NAME" -o "$MGR_PATH" -m "$MGR_IF.Start" addr 2>&1) && return 1
    echo "$out"
    has -F "InteractiveAuthorizationRequired" <<<"$out" && has -F -- "$2" <<<"$out" && ! has -F -- "$3" <<<"$out"
}
check "the service names the interactive flag only to a call without it" \
    service_on_the_flag "" "call with interactive authorization allowed" "no polkit authentication agent"
check "with the flag and no agent, the service says no agent was there to ask" \
    service_on_the_flag -i "no polkit authentication agent was there to ask" "call with interactive authorization"
agent_asks() {
    # At a terminal the CLI starts pkttyagent, which asks for the password
    # polkit wants; nobody types it here, so the session is ended.
    PTY_DRIVE_TIMEOUT=15 as_user "$U_CHALLENGED" /usr/bin/python3 "$PTY_DRIVE_USERS" "expect:AUTHENTICATING FOR org.nixos.containers.manage" expect:Password: -- "$NC_USERS" start addr
}
check "nc-challenged at a terminal: the text agent asks for authentication" agent_asks
no_agent_asked() {
    local out rc=0
    out=$(PTY_DRIVE_TIMEOUT=10 as_user "$U_CHALLENGED" /usr/bin/python3 "$PTY_DRIVE_USERS" exit:4 -- "$NC_USERS" --no-ask-password start addr) || rc=$?
    echo "$out"
    ((rc == 0)) && ! has -F AUTHENTICATING <<<"$out"
}
check "nc-challenged at a terminal with --no-ask-password: exit 4, no agent" no_agent_asked

# ------------------------------------------------------------ scenario 4 ---
scenario "4  login and root-login at a terminal (the systemd payload)"
S=sd
SYSD=$("$HERE/payload/make-systemd-root.sh" system "$DIR/store" sysd)
check "create $S (systemd payload, /usr bound read-only)" mgr Create 'sa{sv}' $S 2 SystemPath s "$SYSD" BindMounts 'a(ssb)' 1 /usr /usr true
check "complete $S's root" "$HERE/payload/make-systemd-root.sh" root "$(root_of $S)"
check "start $S" cli start $S
check "login $S: a login prompt; ^]^]^] ends the session (exit 0)" \
    in_sb /usr/bin/python3 "$PTY_DRIVE" expect:login: 'send:\x1d\x1d\x1d' exit:0 -- "$NC" login $S
check "root-login $S: a root shell; exit ends it (exit 0)" \
    in_sb /usr/bin/python3 "$PTY_DRIVE" expect:'# ' 'send:id\n' 'expect:uid=0(root)' 'send:exit\n' exit:0 -- "$NC" root-login $S
root_login_piped() { # INPUT WANT: root-login with INPUT piped in ('': </dev/null) ends, its output has WANT
    local rc=0
    if [[ -z $1 ]]; then
        in_sb timeout 30 "$NC" root-login "$S" </dev/null >"$WORK/out" 2>&1 || rc=$?
    else
        printf '%b' "$1" | in_sb timeout 30 "$NC" root-login "$S" >"$WORK/out" 2>&1 || rc=$?
    fi
    echo "exit $rc; output: $(tr -d '\r' <"$WORK/out" | head -c 600)"
    # machined cannot tell the shell's status (README): the session's is 0.
    ((rc == 0)) && has -F -- "$2" "$WORK/out"
}
check "root-login $S </dev/null: end of input ends the shell, no hang (exit 0)" \
    root_login_piped '' ''
check "echo 'exit 5' | root-login $S: the piped lines reach the shell, which ends (exit 0)" \
    root_login_piped 'echo PIPED-$((2 + 3))\nexit 5\n' PIPED-5
check "root-login $S: a last line without a newline still runs" \
    root_login_piped 'echo LAST-$((3 + 4))' LAST-7
login_stdin_null() {
    local rc=0
    in_sb timeout 30 "$NC" login "$S" </dev/null >"$WORK/out" 2>&1 || rc=$?
    echo "exit $rc; output: $(tr -d '\r' <"$WORK/out" | head -c 600)"
    ((rc == 0)) && has -F "login:" "$WORK/out"
}
check "login $S </dev/null: end of input ends the session, no hang (exit 0)" login_stdin_null
check "run on $S at a terminal" in_sb /usr/bin/python3 "$PTY_DRIVE" expect:RUN-SD exit:0 -- "$NC" run $S -- /bin/sh -c 'echo RUN-SD'
check "start addr (busybox payload)" cli start addr
check "login on the busybox payload: exit 7, the service says why" expect_exit 7 "system bus" login addr
check "stop $S" cli stop $S

# ------------------------------------------------------------ scenario 5 ---
scenario "5  a script written for the old tool runs unchanged"
cat >"$WORK/old-script.sh" <<'EOF'
#!/bin/sh
# As people wrote them for the Perl nixos-container.
set -e
name=$(nixos-container create oldstyle --ensure-unique-name --system-path "$1" 2>"$2")
grep -q "^host IP is .*, container IP is " "$2"
nixos-container start "$name"
[ "$(nixos-container status "$name")" = up ]
ip=$(nixos-container show-ip "$name")
case $ip in 10.233.*.2) ;; *) echo "show-ip printed '$ip'"; exit 1 ;; esac
out=$(nixos-container run "$name" -- "$3/echo" hello from "$name")
[ "$out" = "hello from $name" ]
if nixos-container run "$name" -- "$3/false"; then echo "run did not fail"; exit 1; fi
nixos-container stop "$name"
[ "$(nixos-container status "$name")" = down ]
nixos-container destroy "$name"
[ "$(nixos-container status "$name" || true)" = gone ]
echo "old script done: $name $ip"
EOF
chmod 0755 "$WORK/old-script.sh"
check "the old-style script (create, start, show-ip, run, stop, destroy)" \
    in_sb env PATH="$DIR/prefix/bin:/usr/bin:/bin" sh "$WORK/old-script.sh" "$OK" "$WORK/old-create.err" "$B"

# ------------------------------------------------------------ scenario 6 ---
scenario "6  the service stopped: every verb says so, and how to start it"
check "systemctl stop nixos-containers" in_sb systemctl stop nixos-containers.service
service_stopped() { # ARGS...: as root
    local rc=0
    cli "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    echo "exit $rc; stderr: $(cat "$WORK/err")"
    ((rc == 8)) && has -F "nixos-containers service is not running" "$WORK/err" &&
        has -F "systemctl start nixos-containers" "$WORK/err" && ! has -F ".service files" "$WORK/err"
}
check "list with the service stopped: exit 8, says it is not running and how to start it" service_stopped list
check "status addr with the service stopped: exit 8, the same" service_stopped status addr
user_service_stopped() {
    cli() { cli_as "$U_ALLOWED" "$@"; }
    service_stopped start addr
}
check "a user's start with the service stopped: exit 8, the same" user_service_stopped
check "systemctl start nixos-containers" in_sb systemctl start nixos-containers.service
check "the service answers again" poll 20000 service_answers

for c in addr pf web-0 $S; do cli destroy "$c" >/dev/null 2>&1; done
exit 0
