#!/usr/bin/env bash
# browser_test.sh — the Cockpit page (cockpit/) in a real browser against the
# real service: Debian's chromium, driven by playwright-core (pinned in
# tests/browser/package-lock.json), loads the page from cockpit-ws on the
# sandbox's loopback. One cockpit-ws per test user, each with
# --local-session pointing at a wrapper that runs cockpit-bridge as that
# user, so every call the page makes reaches polkitd as that user.
#
# Each scenario acts in the page (tests/browser/page_scenarios.mjs) and this
# script checks the service's side through busctl, independently of the page.
#
# Scenarios:
#   1  a container that busctl creates, starts, stops and destroys: the open
#      page's row follows each step live, without a reload
#   2  Create from the page; a bad system path shows the service's own
#      message beside the field and leaves nothing; a build's output streams
#      into the form (the sandbox's stand-in nix fails it); a bad name is
#      caught by the form
#   3  Start from the page (running, live), the container page shows every
#      property, Stop, Destroy (after a confirmation) removes the row
#   4  authorisation: nc-allowed starts; nc-denied sees "Not authorized";
#      nc-challenged sees that authentication is required; neither changed
#      anything; nc-tenant (delegated) creates and starts a confined
#      container from the page
#   5  a failed container's row says why (the unit's Result)
#   6  Rollback from the row: the service's SystemPath is the first system again
#   7  the container page's terminal: nc-allowed runs a command in a root
#      shell (OpenShell, through the CLI's root-login on the bridge's pty)
#
# Screenshots of failed scenarios are kept in $BROWSER_SCREENSHOTS (default
# BUILD/browser-screenshots). Runs as root (exit 77 otherwise). Needs
# node, chromium, cockpit-ws and cockpit-bridge, and tests/browser's
# node_modules (npm ci); the last line is "N passed, M failed".
# shellcheck disable=SC2016,SC2317
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin browser
BROWSER_DIR=$REPO/tests/browser
BUILD_DIR=${NIXOS_CONTAINERS_BUILD_DIR:-$REPO/build}
SCREENSHOTS=${BROWSER_SCREENSHOTS:-$BUILD_DIR/browser-screenshots}
# Ports on the sandbox's own loopback, one cockpit-ws per user.
declare -A PORT=([allowed]=9091 [denied]=9092 [challenged]=9093 [tenant]=9094)
declare -A USER_ID=([allowed]=$U_ALLOWED [denied]=$U_DENIED [challenged]=$U_CHALLENGED [tenant]=$U_TENANT)
BOUNDED_VARS+=(BROWSER_DIR SCREENSHOTS OK PORT)

# with_ws USER CMD...: CMD while a cockpit-ws of its own serves USER on
# PORT[USER], as a fresh login would (a local session ends once no page has
# been connected for a while, and cannot log in again).
with_ws() {
    local user=$1 unit=nc-cockpit-$1 rc=0
    shift
    in_sb systemd-run --quiet --collect --unit="$unit" /usr/lib/cockpit/cockpit-ws \
        --address=127.0.0.1 --port="${PORT[$user]}" --local-session="$WORK/bridge-$user" || return 1
    if poll 10000 ws_answers "${PORT[$user]}"; then
        "$@" || rc=$?
    else
        echo "cockpit-ws for nc-$user does not serve the page's manifest"
        rc=1
    fi
    in_sb systemctl stop "$unit" || rc=1
    return "$rc"
}
ws_answers() { in_sb curl -sf -o /dev/null "http://127.0.0.1:$1/cockpit/@localhost/nixos-containers/manifest.json"; }
# page SCENARIO USER ARGS...: the scenario in chromium, as USER's Cockpit.
page() {
    local scenario=$1 user=$2
    shift 2
    with_ws "$user" in_sb env HOME="$WORK/browser-home" SCREENSHOT_DIR="$SCREENSHOTS" \
        node "$BROWSER_DIR/page_scenarios.mjs" "$scenario" "${PORT[$user]}" "$@"
}
exists() { mgr GetContainer s "$1" >/dev/null 2>&1; }
gone() { # NAME: no object, no conf, no root
    ! exists "$1" || { echo "$1 still has an object"; return 1; }
    [[ ! -e $DIR/etc-containers/$1.conf && ! -e $(root_of "$1") ]] || { echo "$1 left a conf or a root"; return 1; }
}

# ------------------------------------------------------------------- up ---
scenario "0  sandbox up, cockpit-ws per user, the installed page"
for tool in node /usr/bin/chromium /usr/lib/cockpit/cockpit-ws /usr/bin/cockpit-bridge; do
    command -v "$tool" >/dev/null || { fail "$tool is missing (scripts/install-deps.sh installs it)"; exit 1; }
done
# playwright-core 1.64 (tests/browser/package-lock.json) needs Node.js 20 or newer;
# Debian 12's own nodejs is 18: say so, rather than fail inside playwright.
node_major=$(node -p 'process.versions.node.split(".")[0]') || node_major=0
((node_major >= 20)) || { fail "Node.js $(node --version 2>/dev/null) is too old: playwright-core 1.64 needs 20 or newer"; exit 1; }
[[ -d $BROWSER_DIR/node_modules/playwright-core ]] ||
    { fail "playwright-core is missing: (cd tests/browser && npm ci)"; exit 1; }
sandbox_up
OK=$("$MAKE_SYSTEM" "$DIR/store" sysok ok) || { fail "make-system"; exit 1; }
INSTALLED=$DIR/prefix/share/cockpit/nixos-containers
check "the page is installed ($INSTALLED)" test -s "$INSTALLED/manifest.json" -a -s "$INSTALLED/containers.js"
# The sandbox's DIR is root's alone: the bridges, which serve the page as
# their users, read a copy of what was installed, and run a copy of the CLI.
chmod 0711 "$WORK"
mkdir -p "$WORK/share/cockpit" "$WORK/bin" "$WORK/browser-home"
cp -r "$INSTALLED" "$WORK/share/cockpit/"
install -m 0755 "$DIR/prefix/bin/nixos-container" "$WORK/bin/nixos-container"
chmod -R a+rX "$WORK/share" "$WORK/bin"
for user in "${!PORT[@]}"; do
    uid=${USER_ID[$user]}
    mkdir -p "$WORK/home-$user"
    chown "$uid:$uid" "$WORK/home-$user"
    cat >"$WORK/bridge-$user" <<EOF
#!/bin/sh
# cockpit-ws's local session for nc-$user: its bridge, as that user.
exec setpriv --reuid=$uid --regid=$uid --init-groups env -i HOME=$WORK/home-$user \\
    PATH=$WORK/bin:/usr/bin:/bin XDG_DATA_DIRS=$WORK/share:/usr/share /usr/bin/cockpit-bridge
EOF
    chmod 0755 "$WORK/bridge-$user"
done
for user in "${!PORT[@]}"; do
    check "cockpit-ws serves the installed page to nc-$user (its manifest, through nc-$user's bridge)" with_ws "$user" true
done

# -------------------------------------------------------------- scenario 1 ---
scenario "1  what busctl does shows in the open page, live"
check "busctl creates, starts, stops and destroys b0: the open page's row follows each step, no reload" \
    page follows-busctl allowed b0 "$OK"
check "b0 is gone for the service" gone b0
check "busctl creates b1 (for scenario 4)" mgr Create 'sa{sv}' b1 1 SystemPath s "$OK"

# -------------------------------------------------------------- scenario 2 ---
scenario "2  Create from the page, and its errors"
check "Create p1 from the form: its row appears" page create allowed p1 "$OK"
made_from_form() { # NAME: Inspect shows the form's system and private network
    local out
    out=$(in_sb busctl --json=short call "$BUS_NAME" "$MGR_PATH" "$MGR_IF" Inspect s "$1") || return 1
    # SystemPath is shown as the store path inside (the sandbox's store is elsewhere).
    python3 -c 'import json, sys
spec = json.loads(json.loads(sys.argv[1])["data"][0])
print("SystemPath", spec["SystemPath"], "PrivateNetwork", spec["PrivateNetwork"])
sys.exit(0 if spec["SystemPath"] == sys.argv[2] and spec["PrivateNetwork"] is True else 1)' "$out" "/nix/store/${OK##*/}"
}
check "p1 exists for the service, with that system and a private network" made_from_form p1
BAD=/nix/store/00000000000000000000000000000000-missing-system
check "a system path without init: the service's message beside the field" page bad-system-path allowed p2 "$BAD"
check "...and p2 left nothing behind" gone p2
check "Create from a configuration: the builder's output streams into the form, then BuildFailed" \
    page build-output allowed c1 "payload.fail is set"
check "...and c1 left nothing behind" gone c1
check "a name with '_': the form says so before any call" page bad-name allowed
check "...and nothing named web_1 exists" gone web_1

# -------------------------------------------------------------- scenario 3 ---
scenario "3  Start, the container page, Stop, Destroy from the page"
check "Start p1 from the page: the row goes to running live" page start allowed p1
check "p1 is running for the service" state_is p1 running
check "the container page shows p1's properties (a live Leader)" page details allowed p1
check "Stop p1 from the page" page stop allowed p1
check "p1 is stopped for the service" state_is p1 stopped
check "Destroy p1 after the confirmation (cancel first keeps it): the row goes" page destroy allowed p1
check "p1 is gone for the service" gone p1

# -------------------------------------------------------------- scenario 4 ---
scenario "4  authorisation as Cockpit users expect"
check "nc-denied's Start of b1: Not authorized, inline" page start-outcome denied b1 denied
check "...b1 still stopped" state_is b1 stopped
check "nc-challenged's Start of b1: authentication is required, inline" page start-outcome challenged b1 challenge
check "...b1 still stopped" state_is b1 stopped
check "nc-allowed's Start of b1: running" page start-outcome allowed b1 running
check "b1 is running for the service" state_is b1 running
check "nc-tenant (delegated) creates and starts t1 from the page, private network from the pool" \
    page tenant-create-start tenant t1 "$OK"
owned_and_running() { # NAME UID
    local state owner
    state=$(prop "$1" State) && owner=$(prop "$1" Owner) || return 1
    echo "State '$state', Owner '$owner'"
    [[ $state == running && $owner == "$2" ]]
}
check "t1 is running, owned by nc-tenant" owned_and_running t1 "$U_TENANT"

# -------------------------------------------------------------- scenario 5 ---
scenario "5  a failed container says why"
kill_unit() { # NAME: SIGKILL to its unit's main process (nspawn), as a crash would
    local unit pid
    unit=$(prop "$1" Unit) && pid=$(in_sb systemctl show -P MainPID "$unit") || return 1
    echo "$unit: MainPID $pid"
    ((pid > 0)) && in_sb kill -KILL "$pid"
}
check "b1's nspawn is killed (SIGKILL)" kill_unit b1
result_is() { # NAME RESULT
    local state result
    state=$(prop "$1" State) && result=$(prop "$1" UnitResult) || return 1
    echo "State '$state', UnitResult '$result'"
    [[ $state == failed && $result == "$2" ]]
}
check "b1 is failed for the service, UnitResult signal" poll 10000 result_is b1 signal
check "the row of b1 says failed, and why" page failed-reason allowed b1 signal

# -------------------------------------------------------------- scenario 6 ---
scenario "6  Rollback from the page"
OK2=$("$MAKE_SYSTEM" "$DIR/store" sysok2 ok) || fail "make-system sysok2"
check "root creates r1 on one system, then updates it to a second (two generations)" sh -c "
    $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Create 'sa{sv}' r1 1 SystemPath s '$OK' >/dev/null &&
    $SANDBOX exec $DIR busctl call $BUS_NAME $MGR_PATH $MGR_IF Update 'sa{sv}' r1 1 SystemPath s '$OK2'"
check "nc-allowed rolls r1 back from its row" page rollback allowed r1
system_is() { # NAME SYSTEM: its SystemPath, through busctl
    local got
    got=$(prop "$1" SystemPath) || return 1
    echo "SystemPath '$got'"
    [[ $got == "/nix/store/${2##*/}" ]]
}
check "r1 runs the first system again, for the service" system_is r1 "$OK"

# -------------------------------------------------------------- scenario 7 ---
scenario "7  the container page's terminal (OpenShell, on a payload that boots systemd)"
SYSD=$("$HERE/payload/make-systemd-root.sh" system "$DIR/store" sysd)
check "systemd payload made ($SYSD)" test -n "$SYSD"
check "root creates s1 on it, with /usr bound read-only" mgr Create 'sa{sv}' s1 3 SystemPath s "$SYSD" \
    BindMounts 'a(ssb)' 1 /usr /usr true TimeoutStartSec s 60s
check "complete s1's root (merged-usr links, os-release, passwd)" "$HERE/payload/make-systemd-root.sh" root "$(root_of s1)"
check "root starts s1" mgr Start s s1
check "nc-allowed's terminal on s1's page runs a command as root inside" page terminal allowed s1

# ---------------------------------------------------------- screenshot ---
if [[ -n ${BROWSER_README_SCREENSHOT:-} ]]; then
    readme_screenshot() { SCREENSHOT=$BROWSER_README_SCREENSHOT page screenshot allowed; }
    BOUNDED_VARS+=(BROWSER_README_SCREENSHOT)
    check "a screenshot for the README ($BROWSER_README_SCREENSHOT)" readme_screenshot
fi
