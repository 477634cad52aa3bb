# The differential test's evaluation: the reference module and ours with
# the same definitions (definitions.nix, `common`). Gives each container's
# conf as the reference writes it (environment.etc."containers/NAME.conf")
# and our set file, for declarative-inspect to read both (the keys a conf
# carries); and compares here what the reference keeps in its unit instead
# (capabilities, devices with enableTun, tmpfs, ephemeral, the start timeout,
# autoStart), from the set's values. Called with the reference module's path.
{ reference }:
let
  lib = import ./nixpkgs-lib.nix;
  inherit (lib) concatLists mapAttrsToList optional hasInfix concatStringsSep;

  definitions = { containers = (import ./definitions.nix).common; };
  theirs = (import ./eval.nix { inherit lib definitions; module = reference; }).config;
  ours = (import ./eval.nix { inherit lib definitions; }).config;
  set = builtins.fromJSON ours.environment.etc."nixos-containers/declarative.json".text;

  expect = what: expected: actual:
    optional (expected != actual)
      "${what}:\n  reference ${builtins.toJSON expected}\n  ours      ${builtins.toJSON actual}";

  unitChecks = name: entry:
    let
      spec = entry.Spec;
      unit = theirs.systemd.services."container@${name}";
      script = unit.script;
      # The reference expands enableTun; the service does it itself.
      tun = spec.EnableTun;
      capabilities = spec.AdditionalCapabilities ++ optional tun "CAP_NET_ADMIN";
      devices = map (d: "${d.Node} ${d.Modifier}") spec.AllowedDevices ++ optional tun "/dev/net/tun rw";
      flagIn = flag: hasInfix " ${flag} " (" " + lib.replaceStrings [ "\n" ] [ " " ] script + " ");
    in
    concatLists [
      (expect "${name}: capabilities (--capability in the unit's script)" true
        (if capabilities == [ ] then !hasInfix "--capability" script
         else flagIn ''--capability="${concatStringsSep "," capabilities}"''))
      (expect "${name}: devices (the unit's DeviceAllow)" unit.serviceConfig.DeviceAllow devices)
      (expect "${name}: tmpfs (--tmpfs in the unit's script)" true
        (if spec.Tmpfs == [ ] then !hasInfix "--tmpfs" script
         else flagIn (concatStringsSep " " (map (t: "--tmpfs=${t}") spec.Tmpfs))))
      (expect "${name}: ephemeral (--ephemeral in the unit's script)" (flagIn "--ephemeral") spec.Ephemeral)
      (expect "${name}: the unit's TimeoutStartSec" unit.serviceConfig.TimeoutStartSec spec.TimeoutStartSec)
      (expect "${name}: autoStart (the unit wanted by machines.target)"
        (unit.wantedBy == [ "machines.target" ]) spec.AutoStart)
      # Extra veths: the reference names them in its script and sets their
      # host ends up in postStart.
      (expect "${name}: extra veths (--network-veth-extra in the unit's script)"
        (map builtins.head (builtins.filter builtins.isList
          (builtins.split "--network-veth-extra=([^ \n\"]+)" script)))
        (builtins.attrNames spec.ExtraVeths))
      (concatLists (mapAttrsToList (veth: v:
        let has = line: hasInfix line unit.postStart; in
        expect "${name}: extra veth ${veth}'s host end (the unit's postStart)" true
          (if v.HostBridge != "" then has "ip link set dev ${veth} master ${v.HostBridge} up"
           else (v.HostAddress == "" || has "ip addr add ${v.HostAddress} dev ${veth}")
             && (v.HostAddress6 == "" || has "ip -6 addr add ${v.HostAddress6} dev ${veth}")
             && (v.LocalAddress == "" || has "ip route add ${v.LocalAddress} dev ${veth}")
             && (v.LocalAddress6 == "" || has "ip -6 route add ${v.LocalAddress6} dev ${veth}")))
        spec.ExtraVeths))
    ];

  names = builtins.attrNames definitions.containers;
in
{
  confs = lib.genAttrs names (name: theirs.environment.etc."containers/${name}.conf".text);
  set = ours.environment.etc."nixos-containers/declarative.json".text;
  # Every option of ours set somewhere (definitions.nix, `ours`): the
  # service must read each container back as written.
  fullSet = (import ./eval.nix { inherit lib; definitions = { containers = (import ./definitions.nix).ours; }; })
    .config.environment.etc."nixos-containers/declarative.json".text;
  problems = concatLists (mapAttrsToList unitChecks set.Containers)
    ++ expect "containers" names (builtins.attrNames set.Containers);
  report = [ "${toString (builtins.length names)} containers: ${concatStringsSep " " names}" ];
}
