# The flake and the package, evaluated with a stand-in nixpkgs (nixpkgs'
# lib and a fake stdenv, callPackage and testers; nothing is built): the
# outputs the README promises exist, package.nix asks only for nixpkgs'
# names and sets what the install needs, the flake's module runs through
# the stand-in with the flake's package. Evaluates to { problems; report; }.
let
  lib = import ./nixpkgs-lib.nix;
  inherit (lib) optional concatLists;

  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
  };
  # What package.nix may ask for, under nixpkgs' names.
  inputs = lib.genAttrs [ "cmake" "ninja" "pkg-config" "sdbus-cpp" "systemd" "libnl" "nlohmann_json" "gtest" "nodejs" ]
    fakePackage // {
    # nixpkgs' importNpmLock.buildNodeModules: node_modules from npmRoot's
    # package-lock.json, each package fetched from its `resolved` address.
    importNpmLock.buildNodeModules = { npmRoot, nodejs }:
      fakePackage "node-modules" // { inherit npmRoot nodejs; };
  };
  # What Nix fetches the page's packages from: every package of the lock
  # needs its address and hash (an npm set to omit `resolved` drops them).
  cockpitLock = builtins.fromJSON (builtins.readFile ../../cockpit/package-lock.json);
  unfetchable = builtins.attrNames (lib.filterAttrs
    (path: entry: path != "" && !(entry ? resolved && entry ? integrity)) cockpitLock.packages);

  pkgsFor = system: rec {
    inherit lib;
    stdenv = {
      hostPlatform.system = system;
      mkDerivation = f:
        let attrs = if builtins.isFunction f then f attrs else f;
        in attrs // fakePackage "${attrs.pname}-${attrs.version}";
    };
    callPackage = file: overrides:
      let f = import file;
      in f (builtins.intersectAttrs (builtins.functionArgs f) ({ inherit lib stdenv; } // inputs) // overrides);
    testers.runNixOSTest = test: fakePackage "vm-test-run-${test.name}" // { inherit test; };
  };

  systems = [ "x86_64-linux" "aarch64-linux" ];
  flake = import ../../flake.nix;
  self = flake.outputs { inherit self; nixpkgs = { inherit lib; legacyPackages = lib.genAttrs systems pkgsFor; }; };

  expect = what: expected: actual:
    optional (expected != actual) "${what}:\n  expected ${builtins.toJSON expected}\n  got      ${builtins.toJSON actual}";

  package = self.packages.x86_64-linux.default;
  names = map (p: p.name);
  # Every argument package.nix takes must be one the stand-in has.
  unknownArguments = builtins.attrNames (builtins.removeAttrs (builtins.functionArgs (import ../../package.nix))
    ([ "lib" "stdenv" ] ++ builtins.attrNames inputs));

  moduleConfig = (import ./eval.nix {
    inherit lib;
    module = self.nixosModules.default;
    definitions = { boot.enableContainers = true; };
  }).config;
  vm = self.checks.x86_64-linux.vm.test;
in
{
  problems = concatLists [
    (expect "package.nix's arguments not in nixpkgs' names" [ ] unknownArguments)
    (expect "the flake's input" "github:NixOS/nixpkgs/nixos-unstable" flake.inputs.nixpkgs.url)
    (expect "outputs" [ "checks" "nixosModules" "overlays" "packages" ] (builtins.attrNames self))
    (expect "systems" (lib.sort lib.lessThan systems) (builtins.attrNames self.packages))
    (expect "systems of checks" (lib.sort lib.lessThan systems) (builtins.attrNames self.checks))
    (expect "packages" [ "default" "nixos-containers" ] (builtins.attrNames self.packages.x86_64-linux))
    (expect "the package" "nixos-containers-0.1.0" package.name)
    (expect "nativeBuildInputs" [ "cmake" "ninja" "pkg-config" "sdbus-cpp" "nodejs" ] (names package.nativeBuildInputs))
    (expect "the page's lock entries Nix cannot fetch (no resolved or integrity)" [ ] unfetchable)
    (expect "buildInputs" [ "sdbus-cpp" "systemd" "libnl" "nlohmann_json" ] (names package.buildInputs))
    (expect "nativeCheckInputs" [ "gtest" ] (names package.nativeCheckInputs))
    (expect "cmakeFlags" [
      "-DNIXOS_CONTAINERS_TESTS:BOOL=FALSE"
      "-DNIXOS_CONTAINERS_UNIT_DIR:STRING=lib/systemd/system"
      "-DNIXOS_CONTAINERS_BUS_POLICY_DIR:STRING=share/dbus-1/system.d"
      "-DNIXOS_CONTAINERS_ACTIVATION_DIR:STRING=share/dbus-1/system-services"
      "-DNIXOS_CONTAINERS_COCKPIT_NODE_MODULES:STRING=${(fakePackage "node-modules").outPath}/node_modules"
    ] package.cmakeFlags)
    (expect "the package's mainProgram" "nixos-container" package.meta.mainProgram)
    (expect "the overlay's package" package.name
      ((self.overlays.default (pkgsFor "x86_64-linux") { }).nixos-containers.name))
    (expect "the flake module's package (the flake's)" package moduleConfig.services.nixos-containers.package)
    (expect "the flake module's set unit"
      "${package}/bin/nixos-container apply-declarative /etc/nixos-containers/declarative.json"
      moduleConfig.systemd.services.nixos-containers-declarative.serviceConfig.ExecStart)
    (expect "the VM test's nodes" [ "machine" ] (builtins.attrNames vm.nodes))
    (expect "the VM test's script: reload and restart subtests" [ true true ]
      (map (needle: lib.hasInfix needle vm.testScript) [ "reloads it" "restarts it" ]))
  ];
  report = [ "flake outputs: ${toString (builtins.attrNames self)}; package ${package.name}" ];
}
