# Four generations of a host's declarative containers, as the text of
# /etc/nixos-containers/declarative.json that our module writes for each
# (evaluated through nixos/module.nix with the stand-in), for the sandbox
# test that applies them to the real service:
#   nix-instantiate --eval --strict --json tests/nixos/generations.nix \
#     --argstr systemA X --argstr systemB Y --argstr bindA A --argstr bindB B -A gen1
# prints a JSON string holding the file's text. systemA and systemB are
# store paths of two payload systems, bindA and bindB two host directories.
# nixpkgs' lib comes from NIXOS_CONTAINERS_NIXPKGS_LIB (an unpacked lib/
# directory) or else the vendored tarball (nixpkgs-lib.nix).
#   gen1: alpha (private network, a read-only bind of bindA, 512M), beta,
#         gamma (restartIfChanged = false, a bind of bindA), all autoStart;
#   gen2: alpha's system is systemB and its MemoryMax 256M (a reload and a
#         live limit);
#   gen3: alpha's and gamma's binds are of bindB (alpha restarts, gamma is
#         not restarted);
#   gen4: beta is gone.
{ systemA, systemB, bindA, bindB, lib ? import ./nixpkgs-lib.nix }:
let
  gen1 = {
    alpha = {
      autoStart = true;
      privateNetwork = true;
      hostAddress = "10.231.7.1";
      localAddress = "10.231.7.2";
      bindMounts."/mnt/data" = { hostPath = bindA; isReadOnly = true; };
      path = systemA;
      memoryMax = "512M";
    };
    beta = {
      autoStart = true;
      path = systemA;
    };
    gamma = {
      autoStart = true;
      restartIfChanged = false;
      bindMounts."/mnt/data" = { hostPath = bindA; };
      path = systemA;
    };
  };
  gen2 = lib.recursiveUpdate gen1 { alpha = { path = systemB; memoryMax = "256M"; }; };
  gen3 = lib.recursiveUpdate gen2 {
    alpha.bindMounts."/mnt/data".hostPath = bindB;
    gamma.bindMounts."/mnt/data".hostPath = bindB;
  };
  gen4 = builtins.removeAttrs gen3 [ "beta" ];

  setText = containers:
    (import ./eval.nix { inherit lib; definitions = { inherit containers; }; })
      .config.environment.etc."nixos-containers/declarative.json".text;
in
lib.mapAttrs (_: setText) { inherit gen1 gen2 gen3 gen4; }
