# Stand-ins for the NixOS options that nixos/module.nix and the reference
# module (../shared/reference/nixos-containers.nix) set or read, and a
# fake `pkgs`: enough for lib.evalModules to evaluate either module offline,
# with no nixpkgs. Types follow NixOS's where it matters (lists merge,
# lines concatenate); a unit option neither module should set is not
# declared, so a misspelt one fails the evaluation.
{ lib, config, ... }:

let
  inherit (lib) mkOption types;

  # A store path that is not there: these tests never build.
  fakeStorePath = name: fakeStorePathOf name name;
  fakeStorePathOf = seed: name:
    "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" seed)}-${name}";
  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = fakeStorePath name;
  };
  fakeWriteText = name: text: fakeStorePathOf "${name}\n${text}" name;

  unitOptions = {
    enable = mkOption { type = types.bool; default = true; };
    description = mkOption { type = types.str; default = ""; };
    wantedBy = mkOption { type = types.listOf types.str; default = [ ]; };
    requiredBy = mkOption { type = types.listOf types.str; default = [ ]; };
    wants = mkOption { type = types.listOf types.str; default = [ ]; };
    requires = mkOption { type = types.listOf types.str; default = [ ]; };
    after = mkOption { type = types.listOf types.str; default = [ ]; };
    before = mkOption { type = types.listOf types.str; default = [ ]; };
    unitConfig = mkOption { type = types.attrsOf types.unspecified; default = { }; };
  };

  serviceOptions = unitOptions // {
    restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    reloadTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    restartIfChanged = mkOption { type = types.bool; default = true; };
    serviceConfig = mkOption { type = types.attrsOf types.unspecified; default = { }; };
    environment = mkOption {
      type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ]));
      default = { };
    };
    path = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    script = mkOption { type = types.lines; default = ""; };
    preStart = mkOption { type = types.lines; default = ""; };
    postStart = mkOption { type = types.lines; default = ""; };
  };

  etcOptions = { name, config, ... }: {
    options = {
      text = mkOption { type = types.nullOr types.lines; default = null; };
      source = mkOption { type = types.path; };
      mode = mkOption { type = types.str; default = "symlink"; };
    };
    # As NixOS's etc.nix: a text becomes a file in the store.
    config.source = lib.mkIf (config.text != null)
      (fakeWriteText "etc-${lib.replaceStrings [ "/" ] [ "-" ] name}" config.text);
  };
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };

    systemd.package = mkOption { type = types.package; default = fakePackage "systemd-254"; };
    systemd.packages = mkOption { type = types.listOf types.package; default = [ ]; };
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule { options = serviceOptions; });
      default = { };
    };
    systemd.targets = mkOption {
      type = types.attrsOf (types.submodule { options = unitOptions; });
      default = { };
    };

    environment.etc = mkOption { type = types.attrsOf (types.submodule etcOptions); default = { }; };
    environment.systemPackages = mkOption { type = types.listOf types.package; default = [ ]; };

    networking.extraHosts = mkOption { type = types.lines; default = ""; };
    networking.dhcpcd.denyInterfaces = mkOption { type = types.listOf types.str; default = [ ]; };
    networking.networkmanager.enable = mkOption { type = types.bool; default = false; };

    services.udev.extraRules = mkOption { type = types.lines; default = ""; };
    services.dbus.packages = mkOption { type = types.listOf types.package; default = [ ]; };

    security.polkit.enable = mkOption { type = types.bool; default = false; };
    security.polkit.extraConfig = mkOption { type = types.lines; default = ""; };

    users.groups = mkOption {
      type = types.attrsOf (types.submodule {
        options.gid = mkOption { type = types.nullOr types.int; default = null; };
        options.members = mkOption { type = types.listOf types.str; default = [ ]; };
      });
      default = { };
    };

    boot.kernelModules = mkOption { type = types.listOf types.str; default = [ ]; };
    boot.kernelPackages = mkOption { type = types.unspecified; default = { kernel.version = "6.1.0"; }; };

    nixpkgs.localSystem = mkOption { type = types.unspecified; default = { system = "x86_64-linux"; }; };
  };

  config._module.args.pkgs = {
    path = fakeStorePath "nixpkgs";
    runtimeShell = "${fakeStorePath "bash"}/bin/bash";
    iproute2 = fakePackage "iproute2";
    nixos-container = fakePackage "nixos-container";
    stdenv.hostPlatform.system = config.nixpkgs.localSystem.system;
    writeScript = fakeWriteText;
    writeText = fakeWriteText;
    callPackage = _file: _args: throw "stand-in: no nixpkgs here; set services.nixos-containers.package";
  };
}
