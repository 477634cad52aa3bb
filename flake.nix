{
  description = "nixos-containers: NixOS containers run by a D-Bus service (org.nixos.Containers)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forEachSystem (pkgs: rec {
        nixos-containers = pkgs.callPackage ./package.nix { };
        default = nixos-containers;
      });

      overlays.default = final: _prev: {
        nixos-containers = final.callPackage ./package.nix { };
      };

      # Replaces nixpkgs' containers module: `containers.<name>` as before,
      # run by the service. The package defaults to this flake's.
      nixosModules.default = { lib, pkgs, ... }: {
        imports = [ ./nixos/module.nix ];
        services.nixos-containers.package =
          lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };

      # A declarative container boots; a switch that changes only its
      # system reloads it (same Leader); one that changes a bind restarts it.
      checks = forEachSystem (pkgs: {
        vm = pkgs.testers.runNixOSTest (import ./tests/nixos/vm-test.nix {
          module = self.nixosModules.default;
        });
      });
    };
}
