# <nixpkgs/nixos>, as nix-env calls it: the configuration is <nixos-config>.
{ configuration ? <nixos-config>, system ? "x86_64-linux" }:
import ./eval.nix { modules = [ configuration ]; }
