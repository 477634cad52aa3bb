# Evaluates a containers module (ours by default, or the reference one)
# against the stand-in, with `definitions` (a module, or a list of them).
#   import ./eval.nix { definitions = { containers.a.path = "/nix/store/..."; }; }
# ours gets a fake package, as nixpkgs is not here to build one.
{ lib ? import ./nixpkgs-lib.nix
, module ? ../../nixos/module.nix
, definitions ? [ ]
}:
let
  ours = module == ../../nixos/module.nix;
  fakePackage = {
    type = "derivation";
    name = "nixos-containers-0.1.0";
    outPath = "/nix/store/00000000000000000000000000000000-nixos-containers-0.1.0";
  };
in
lib.evalModules {
  specialArgs.modulesPath = "/stand-in/nixos/modules";
  modules = [ ./stand-in.nix module ]
    ++ lib.optional ours { services.nixos-containers.package = lib.mkDefault fakePackage; }
    ++ lib.toList definitions;
}
