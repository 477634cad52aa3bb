#!/usr/bin/env bash
# nix_e2e_test.sh — builds with real Nix (Debian's nix-bin, offline) in the
# sandbox: the service's nix-env and nix build against the tests' stand-in
# nixpkgs (tests/sandbox/payload/nixpkgs), the store bound at /nix.
#
#   0  sandbox up; the payload is a valid path of the real store, no stand-in
#      for Nix anywhere
#   1  Config: built, started, rebuilt by Update (a generation per build),
#      rolled back (nix-env agrees)
#   2  build failures: Nix's own message in BuildFailed, nothing changed
#   3  ConfigFile; NixosPath (another <nixpkgs/nixos> for one container); a
#      Flake without #attr (nixosConfigurations.container) whose nixpkgs
#      input only the pass-through --override-input supplies
#   4  a container nixos-container made (profile by nix-env by hand, no
#      source in its conf): Update rebuilds it from etc/nixos/configuration.nix
#   5  nix-store --gc keeps every running and profiled system (a stopped
#      SystemPath one rooted only by the service's own generation links too) and
#      collects garbage; Destroy frees a container's systems for the next gc
#
# Runs as root (exit 77 otherwise). The last line is "N passed, M failed";
# the exit status is non-zero when M > 0.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
sandbox_test_begin nix
BOUNDED_VARS+=(OK HERE C1 F1 F2 F3 G1 G2 L1 FLAKE LEGACY LSYS SP)

# ------------------------------------------------------------- helpers ---
# Create NAME with one string key: Config, ConfigFile or Flake.
create_from() { mgr Create 'sa{sv}' "$1" 1 "$2" s "$3"; }
# The system NAME runs, as a store path, and its message file.
system_of() { prop "$1" SystemPath; }
message_of() { cat "$DIR/store/${1#/nix/store/}/message"; }
message_is() { # NAME TEXT: NAME's SystemPath is a store path whose message is TEXT
    local sys got
    sys=$(system_of "$1") || return 1
    [[ $sys == /nix/store/?*-nixos-system-* ]] || { echo "SystemPath '$sys' is not a built system"; return 1; }
    got=$(message_of "$sys") || return 1
    [[ $got == "$2" ]] || { echo "message '$got', expected '$2'"; return 1; }
}
system_named() { # NAME HOST: NAME runs a store path nixos-system-HOST
    local sys
    sys=$(system_of "$1") || return 1
    [[ $sys == /nix/store/*-nixos-system-"$2" ]] || { echo "SystemPath '$sys'"; return 1; }
}
valid_path() { in_sb_nix nix-store --check-validity "$1"; }
in_store() { in_sb test -e "$1"; }
not_in_store() { # PATH: gone from the store, and the probe sees the store
    in_sb test -d /nix/store || { echo "no /nix/store in the sandbox"; return 1; }
    ! in_sb test -e "$1" || { echo "$1 is still in the store"; return 1; }
}
# Nix's own list of the profile's generations, "N:CURRENT ..." as
# generations_are prints them.
nix_generations_are() { # PROFILE "N:CURRENT ..."
    local got
    got=$(in_sb_nix nix-env -p "$1" --list-generations | awk '{printf "%s%d:%d", sep, $1, ($NF == "(current)"); sep=" "}') || return 1
    echo "nix-env --list-generations: $got"
    [[ $got == "$2" ]]
}
leader_is() { # NAME PID: a PID, and NAME's Leader is still it
    local l
    l=$(prop "$1" Leader) || return 1
    [[ $2 =~ ^[1-9][0-9]*$ && $l == "$2" ]] || { echo "Leader '$l', expected '$2'"; return 1; }
}
profile_of() { echo "/nix/var/nix/profiles/per-container/$1/system"; }

# ------------------------------------------------------------ scenario 0 ---
scenario "0  sandbox up; the payload is a real store path; no stand-in for Nix"
sandbox_up
OK=$("$MAKE_SYSTEM" "$DIR/store" nixok ok) || { fail "make-system"; exit 1; }
check "make-system's system is a valid path of the sandbox's store" valid_path "$OK"
check "the store is DIR/nix, bound at /nix in the sandbox" in_sb test -x "$OK/init"
service_nix() {
    local env bin
    env=$(in_sb systemctl show -P Environment nixos-containers.service) || return 1
    bin=$(tr ' ' '\n' <<<"$env" | sed -n 's/^NIXOS_CONTAINERS_NIX_BIN_DIR=//p')
    echo "NIXOS_CONTAINERS_NIX_BIN_DIR=$bin"
    [[ $bin == /usr/bin ]] || return 1
    # Debian's programs, not scripts: each one belongs to nix-bin.
    for program in nix nix-env nix-store; do
        dpkg -S "$bin/$program" | has -x "nix-bin: $bin/$program" || { echo "$bin/$program is not nix-bin's"; return 1; }
    done
    [[ ! -e $DIR/nix-bin ]] || { echo "a stand-in directory $DIR/nix-bin exists"; return 1; }
}
check "the service's nix, nix-env and nix-store are nix-bin's own; no stand-in exists" service_nix
end_scenario

# ------------------------------------------------------------ scenario 1 ---
scenario "1  Config: build, start, a generation per build, Rollback"
C1=cfg
check "Create $C1 from Config (real nix-env against the stand-in <nixpkgs/nixos>)" \
    create_from $C1 Config 'payload.message = "first";'
check "$C1 runs the system Nix built, with the Config's message" message_is $C1 first
F1=$(system_of $C1)
check "$C1's system is a valid store path" valid_path "$F1"
check "Generations: 1, current" generations_are $C1 "1:1"
check "Start $C1" mgr Start s $C1
check "$C1 running" state_is $C1 running
L1=$(prop $C1 Leader)
check "Update $C1 with a new Config" mgr Update 'sa{sv}' $C1 1 Config s 'payload.message = "second";'
check "$C1 now has the second system" message_is $C1 second
F2=$(system_of $C1)
check "Generations: 1, 2 (current): the profile gained one per build" generations_are $C1 "1:0 2:1"
check "nix-env sees the same generations in $C1's profile" nix_generations_are "$(profile_of $C1)" "1:0 2:1"
check "Rollback $C1" mgr Rollback s $C1
check "after Rollback: the first system again" message_is $C1 first
check "after Rollback: generation 1 is current" generations_are $C1 "1:1 2:0"
check "after Rollback: nix-env agrees" nix_generations_are "$(profile_of $C1)" "1:1 2:0"
check "after Rollback: $C1 reloaded, not restarted (Leader $L1)" leader_is $C1 "$L1"
end_scenario

# ------------------------------------------------------------ scenario 2 ---
scenario "2  build failures carry Nix's own message and change nothing"
check "Create bad from a Config with an undefined variable -> BuildFailed, Nix's message" \
    expect_error "$ERR.BuildFailed" "undefined variable 'nonsense'" -- Create bad "{'Config': <'payload.message = nonsense;'>}"
check "no container 'bad' is left" not_listed bad
check "no profile for 'bad' is left" path_absent "$DIR/profiles/bad"
check "Update $C1 with a Config whose builder fails -> BuildFailed, Nix's message" \
    expect_error "$ERR.BuildFailed" "payload.fail is set" -- Update "$C1" "{'Config': <'payload.fail = true;'>}"
check "... and Nix's own line about the builder" \
    expect_error "$ERR.BuildFailed" "failed with exit code 1" -- Update "$C1" "{'Config': <'payload.fail = true;'>}"
check "after the failed Updates: still the first system" message_is $C1 first
check "after the failed Updates: generations unchanged" generations_are $C1 "1:1 2:0"
end_scenario

# ------------------------------------------------------------ scenario 3 ---
scenario "3  ConfigFile; a Flake (nixosConfigurations.container, --override-input)"
mkdir -p "$WORK/nix"
printf '{ config, lib, pkgs, ... }: {\n  networking.hostName = "fromfile";\n  payload.message = "from a file";\n}\n' >"$WORK/nix/file.nix"
check "Create file from ConfigFile" create_from file ConfigFile "$WORK/nix/file.nix"
check "file runs nixos-system-fromfile, with the file's message" message_is file "from a file"
# NixosPath: another <nixpkgs/nixos> for this container alone (nixos-container
# --nixos-path), here one that adds a module naming the system.
mkdir -p "$WORK/nix/other-nixos"
cat >"$WORK/nix/other-nixos/default.nix" <<EOF
{ configuration ? <nixos-config>, system ? "x86_64-linux" }:
import $DIR/nixpkgs/nixos/eval.nix { modules = [ configuration { networking.hostName = "othernixos"; } ]; }
EOF
check "Create alt from Config with NixosPath (nix-env -f that directory)" \
    mgr Create 'sa{sv}' alt 2 Config s 'payload.message = "alt";' NixosPath s "$WORK/nix/other-nixos"
check "alt was built by the NixosPath's nixos (nixos-system-othernixos, not -alt)" system_named alt othernixos
check "Destroy alt" mgr Destroy s alt
FLAKE=$WORK/nix/flake
mkdir -p "$FLAKE"
# Its nixpkgs input does not exist: only the pass-through flag makes it build.
cat >"$FLAKE/flake.nix" <<EOF
{
  inputs.nixpkgs.url = "path:$DIR/no-such-nixpkgs";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.container = nixpkgs.lib.nixosSystem {
      modules = [ ({ ... }: { payload.message = "from the flake"; }) ];
    };
    nixosConfigurations.other = nixpkgs.lib.nixosSystem {
      modules = [ { payload.message = "the other one"; } ];
    };
  };
}
EOF
check "Create flk from Flake without NixFlags -> BuildFailed, Nix names the missing input" \
    expect_error "$ERR.BuildFailed" "no-such-nixpkgs" -- Create flk "{'Flake': <'$FLAKE'>}"
check "Create flk from Flake without #attr, NixFlags --override-input nixpkgs path:DIR/nixpkgs" \
    mgr Create 'sa{sv}' flk 2 Flake s "$FLAKE" NixFlags as 3 --override-input nixpkgs "path:$DIR/nixpkgs"
check "flk built nixosConfigurations.container" message_is flk "from the flake"
check "Generations of flk: 1, current (nix build --profile)" generations_are flk "1:1"
check "Create flk2 from Flake #other" \
    mgr Create 'sa{sv}' flk2 2 Flake s "$FLAKE#other" NixFlags as 3 --override-input nixpkgs "path:$DIR/nixpkgs"
check "flk2 built nixosConfigurations.other" message_is flk2 "the other one"
end_scenario

# ------------------------------------------------------------ scenario 4 ---
scenario "4  a container nixos-container made: Update rebuilds its configuration.nix"
LEGACY=legacy
# As nixos-container create does: the profile by nix-env, the module in the
# container's etc/nixos, a conf that names no source.
mkdir -p "$(root_of $LEGACY)/etc/nixos"
printf '{ ... }: { payload.message = "old tool"; }\n' >"$(root_of $LEGACY)/etc/nixos/configuration.nix"
legacy_by_hand() {
    in_sb mkdir -p -m 0700 "/nix/var/nix/profiles/per-container/$LEGACY" &&
        in_sb_nix nix-env -p "$(profile_of $LEGACY)" -I "nixos-config=$(root_of $LEGACY)/etc/nixos/configuration.nix" \
            -f "$DIR/nixpkgs/nixos" --set -A system &&
        printf 'PRIVATE_NETWORK=0\nHOST_ADDRESS=\nLOCAL_ADDRESS=\nHOST_BRIDGE=\nHOST_PORT=\nAUTO_START=0\n' \
            >"$DIR/etc-containers/$LEGACY.conf" &&
        in_sb systemctl restart nixos-containers.service && poll 10000 service_answers
}
check "nixos-container's way by hand: nix-env -p ... --set -A system, the conf, a service restart" legacy_by_hand
LSYS=$(in_sb readlink -f "$(profile_of $LEGACY)")
check "the service lists $LEGACY, running what its profile points at" [ "$(system_of $LEGACY)" = "$LSYS" ]
printf '{ ... }: { payload.message = "old tool, updated"; }\n' >"$(root_of $LEGACY)/etc/nixos/configuration.nix"
check "Update $LEGACY naming no key rebuilds it from etc/nixos/configuration.nix" mgr Update 'sa{sv}' $LEGACY 0
check "$LEGACY has the updated system" message_is $LEGACY "old tool, updated"
check "Generations of $LEGACY: 1 (by hand), 2 (the service's build, current)" generations_are $LEGACY "1:0 2:1"
end_scenario

# ------------------------------------------------------------ scenario 5 ---
scenario "5  nix-store --gc keeps what runs and what profiles hold; Destroy frees"
mkdir -p "$WORK/garbage"
echo "nobody roots this" >"$WORK/garbage/file"
G1=$(in_sb_nix nix-store --add "$WORK/garbage")
check "an unrooted path was added: $G1" valid_path "$G1"
# A stopped SystemPath container: nix-env did not make its profile, and no
# process runs from its system (the gc keeps what running processes use),
# so only the service's own generation links root it. Its payload's own
# root goes.
SP=$("$MAKE_SYSTEM" "$DIR/store" gcsys ok)
rm -f "$DIR/nix/var/nix/gcroots/sandbox-payloads/gcsys"
check "Create sp from SystemPath $SP (a path nothing else roots), not started" mgr Create 'sa{sv}' sp 1 SystemPath s "$SP"
check "nix-store --gc" in_sb_nix nix-store --gc
check "the unrooted path is collected (the gc did collect)" not_in_store "$G1"
check "$C1's running system survives: valid" valid_path "$F1"
check "$C1's running system survives: its init is there" in_store "$F1/init"
check "$C1 still running" state_is $C1 running
check "$C1's other generation survives" valid_path "$F2"
check "the Flake's system survives" valid_path "$(system_of flk)"
check "stopped sp's system survives, rooted by the service's own generation links" valid_path "$SP"
check "... and sp starts from it" mgr Start s sp
G2=$(system_of file)
check "Destroy file" mgr Destroy s file
check "Destroy $C1 (running)" mgr Destroy s $C1
check "after Destroy: $C1's profile is gone" path_absent "$DIR/profiles/$C1"
check "nix-store --gc" in_sb_nix nix-store --gc
check "Destroy freed file's system" not_in_store "$G2"
check "Destroy freed $C1's first system" not_in_store "$F1"
check "Destroy freed $C1's second system" not_in_store "$F2"
check "the Flake's system is still kept by its profile" valid_path "$(system_of flk)"
for name in flk flk2 $LEGACY sp; do
    check "Destroy $name" mgr Destroy s "$name"
done
end_scenario
