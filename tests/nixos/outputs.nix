# The outputs test: what our module makes of definitions.nix (and of a few
# edge cases), against expected values. Evaluates to { problems; report; }.
let
  lib = import ./nixpkgs-lib.nix;
  inherit (lib) concatLists mapAttrsToList optional filterAttrs hasPrefix attrNames;

  evalOurs = definitions: (import ./eval.nix { inherit lib definitions; }).config;
  # Whether evaluating `value` fails (tryEval cannot see the message; the
  # test script checks the messages of these cases).
  fails = value: !(builtins.tryEval (builtins.deepSeq value value)).success;
  failedAssertions = config: map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);

  config = evalOurs { containers = (import ./definitions.nix).ours; };
  package = config.services.nixos-containers.package;
  setFile = config.environment.etc."nixos-containers/declarative.json";
  unit = config.systemd.services.nixos-containers-declarative;
  expectedSet = builtins.fromJSON (builtins.readFile ./expected-declarative.json);

  expect = what: expected: actual:
    optional (expected != actual)
      "${what}:\n  expected ${builtins.toJSON expected}\n  got      ${builtins.toJSON actual}";

  # The file's exact text: toJSON of the expected value is canonical (keys
  # sorted, no spaces), so this compares text, not only meaning.
  # On a difference, the keys that differ first, then the two texts.
  actualSet = builtins.fromJSON setFile.text;
  keyDifferences = concatLists (mapAttrsToList (name: expected:
    let actual = actualSet.Containers.${name} or { Spec = { }; }; in
    expect "${name}: RestartIfChanged" (expected.RestartIfChanged or null) (actual.RestartIfChanged or null)
    ++ concatLists (map (key: expect "${name}: ${key}" (expected.Spec.${key} or null) (actual.Spec.${key} or null))
      (lib.unique (attrNames expected.Spec ++ attrNames actual.Spec))))
    (expectedSet.Containers // lib.mapAttrs (_: _: { Spec = { }; }) (builtins.removeAttrs actualSet.Containers (attrNames expectedSet.Containers))));
  setChecks = lib.optionals (builtins.toJSON expectedSet != setFile.text)
    (keyDifferences ++ expect "declarative.json, the whole text" (builtins.toJSON expectedSet) setFile.text);

  unitChecks = concatLists [
    (expect "the set unit's ExecStart"
      "${package}/bin/nixos-container apply-declarative /etc/nixos-containers/declarative.json"
      unit.serviceConfig.ExecStart)
    (expect "the set unit's type" { Type = "oneshot"; RemainAfterExit = true; }
      (builtins.removeAttrs unit.serviceConfig [ "ExecStart" ]))
    (expect "the set unit's restartTriggers (the set file's store path)" [ setFile.source ] unit.restartTriggers)
    (expect "the set unit's requires" [ "nixos-containers.service" ] unit.requires)
    # gadgets (autoStart) waits for its moved interface, as nixpkgs' unit does.
    (expect "the set unit's after"
      [ "nixos-containers.service" "network.target" "sys-subsystem-net-devices-eth1.device" ] unit.after)
    (expect "the set unit's wants" [ "network.target" "sys-subsystem-net-devices-eth1.device" ] unit.wants)
    (expect "the set unit's wantedBy" [ "multi-user.target" ] unit.wantedBy)
    (expect "units named container@*" [ ]
      (builtins.filter (hasPrefix "container@") (attrNames config.systemd.services)))
    (expect "systemd units" [ "nixos-containers" "nixos-containers-declarative" ]
      (attrNames config.systemd.services))
    (expect "/etc files" [ "nixos-containers/declarative.json" ] (attrNames config.environment.etc))
    (expect "the service's drop-in"
      {
        wantedBy = [ "multi-user.target" ];
        environment.NIXOS_CONTAINERS_NSPAWN = "${config.systemd.package}/bin/systemd-nspawn";
      }
      { inherit (config.systemd.services.nixos-containers) wantedBy environment; })
    (expect "systemd.packages" [ package ] config.systemd.packages)
    (expect "services.dbus.packages" [ package ] config.services.dbus.packages)
    (expect "environment.systemPackages" [ package ] config.environment.systemPackages)
    (expect "security.polkit.enable" true config.security.polkit.enable)
  ];

  hostChecks = concatLists [
    # In the attributes' order, as the reference writes them, and each
    # container's IPv6 address after its IPv4 one.
    (expect "networking.extraHosts"
      "10.0.0.5 bridged.containers\n10.9.9.2 shared.containers\n10.231.136.2 web.containers\nfc00::2 web.containers\n"
      config.networking.extraHosts)
    (expect "networking.dhcpcd.denyInterfaces" [ "ve-*" "vb-*" ] config.networking.dhcpcd.denyInterfaces)
    (expect "boot.kernelModules" [ "bridge" "macvlan" "tap" "tun" ] config.boot.kernelModules)
    (expect "udev rules without NetworkManager" "" config.services.udev.extraRules)
    (expect "failed assertions" [ ] (failedAssertions config))
    (expect "warnings" [ ] config.warnings)
    (expect "users.groups without ownersGroup" { } config.users.groups)
    (expect "polkit rules without ownersGroup" "" config.security.polkit.extraConfig)
  ];

  # Variants, each evaluated on its own.
  none = evalOurs { boot.enableContainers = true; };
  withNetworkManager = evalOurs { containers.a.path = "/nix/store/a"; networking.networkmanager.enable = true; };
  withOwners = evalOurs { boot.enableContainers = true; services.nixos-containers.ownersGroup.enable = true; };
  disabled = evalOurs { containers.a.path = "/nix/store/a"; boot.enableContainers = false; };
  variantChecks = concatLists [
    # No containers: still a set, so a switch that removes the last one forgets it.
    (expect "the set with no containers" ''{"Containers":{}}''
      none.environment.etc."nixos-containers/declarative.json".text)
    (expect "the set unit with no containers" true (none.systemd.services ? nixos-containers-declarative))
    (expect "boot.enableContainers with no containers" false (evalOurs { }).boot.enableContainers)
    (expect "the service with no containers (and enableContainers left alone)" [ ]
      (attrNames (evalOurs { }).systemd.services))
    (expect "udev rules with NetworkManager"
      "# Interfaces of nixos-containers are the service's, not NetworkManager's.\nENV{INTERFACE}==\"v[eb]-*\", ENV{NM_UNMANAGED}=\"1\"\n"
      withNetworkManager.services.udev.extraRules)
    (expect "users.groups with ownersGroup" { containers = { gid = null; members = [ ]; }; } withOwners.users.groups)
    (expect "polkit rules with ownersGroup" (builtins.readFile ../../polkit/50-nixos-containers-owners.rules.example)
      withOwners.security.polkit.extraConfig)
    (expect "units when disabled" [ ] (attrNames disabled.systemd.services))
    (expect "warnings when disabled"
      [ "containers.<name> is set, but services.nixos-containers.enable (boot.enableContainers) is false." ]
      disabled.warnings)
    (expect "an underscore in a name"
      [ "containers.no_way: systemd-nspawn and machined refuse names with `_`; rename it." ]
      (failedAssertions (evalOurs { containers.no_way.path = "/nix/store/a"; })))
    (expect "networkNamespace with privateNetwork"
      [ "containers.a.networkNamespace cannot go with privateNetwork or interfaces." ]
      (failedAssertions (evalOurs {
        containers.a = { path = "/nix/store/a"; privateNetwork = true; networkNamespace = "/run/netns/x"; };
      })))
    (expect "the removed option pkgs is an error" true
      (fails (evalOurs { containers.a = { path = "/nix/store/a"; pkgs = { }; }; })
        .environment.etc."nixos-containers/declarative.json".text))
    (expect "a container with neither path, config nor flake is an error" true
      (fails (evalOurs { containers.a.autoStart = true; })
        .environment.etc."nixos-containers/declarative.json".text))
    (expect "a port out of range is an error" true
      (fails (evalOurs { containers.a = { path = "/nix/store/a"; privateNetwork = true; forwardPorts = [ { hostPort = 70000; } ]; }; })
        .environment.etc."nixos-containers/declarative.json".text))
  ];
in
{
  problems = setChecks ++ unitChecks ++ hostChecks ++ variantChecks;
  report = [ "declarative.json: ${toString (builtins.stringLength setFile.text)} bytes, ${toString (builtins.length (attrNames expectedSet.Containers))} containers" ];
}
