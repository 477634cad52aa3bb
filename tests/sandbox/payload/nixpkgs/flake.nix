# nixpkgs as a flake input: lib.nixosSystem over the same evaluation.
{
  outputs = { self }: {
    lib.nixosSystem = { modules, system ? "x86_64-linux", ... }: import ./nixos/eval.nix { inherit modules; };
  };
}
