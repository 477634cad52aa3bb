# nixos-containers: the org.nixos.Containers service, the nixos-container
# CLI, the systemd unit, the bus policy and activation file, the polkit
# actions and the Cockpit page. callPackage style:
#   pkgs.callPackage ./package.nix { }
# Not built on this project's machines (no nixpkgs, no binary cache); the
# tests only parse it (tests/nixos, nixos_parse). See README.md, "NixOS".
{ lib
, stdenv
, cmake
, ninja
, pkg-config
, sdbus-cpp
, systemd
, libnl
, nlohmann_json
, gtest
, nodejs
, importNpmLock
}:

let
  # The Cockpit page's packages, from cockpit/package-lock.json (exact versions
  # and hashes), fetched by Nix: the build then bundles the page without npm
  # and without network (NIXOS_CONTAINERS_COCKPIT_NODE_MODULES).
  cockpitNodeModules = importNpmLock.buildNodeModules {
    npmRoot = ./cockpit;
    inherit nodejs;
  };
in

stdenv.mkDerivation (finalAttrs: {
  pname = "nixos-containers";
  version = "0.1.0";

  src = lib.cleanSource ./.;

  # sdbus-cpp 1.x (nixpkgs' sdbus-cpp; sdbus-cpp_2 is the 2.x API): its
  # sdbus-c++-xml2cpp generates the adaptors and proxies at build time.
  nativeBuildInputs = [ cmake ninja pkg-config sdbus-cpp nodejs ];
  buildInputs = [ sdbus-cpp systemd libnl nlohmann_json ];
  nativeCheckInputs = [ gtest ];

  # The unit tier needs nothing of the host, but the other tiers need a bus,
  # root, systemd and nspawn, and tests/nixos needs ../shared: this
  # repository's CI runs them, not the package build. doCheck = true builds
  # and runs the unit tier.
  doCheck = false;
  checkPhase = ''
    runHook preCheck
    ctest --output-on-failure -L unit -LE nixos
    runHook postCheck
  '';

  cmakeFlags = [
    (lib.cmakeBool "NIXOS_CONTAINERS_TESTS" finalAttrs.doCheck)
    # Relative to the prefix: NixOS links them from systemd.packages,
    # services.dbus.packages and environment.systemPackages.
    (lib.cmakeFeature "NIXOS_CONTAINERS_UNIT_DIR" "lib/systemd/system")
    (lib.cmakeFeature "NIXOS_CONTAINERS_BUS_POLICY_DIR" "share/dbus-1/system.d")
    (lib.cmakeFeature "NIXOS_CONTAINERS_ACTIVATION_DIR" "share/dbus-1/system-services")
    (lib.cmakeFeature "NIXOS_CONTAINERS_COCKPIT_NODE_MODULES" "${cockpitNodeModules}/node_modules")
  ];

  meta = {
    description = "NixOS containers as a D-Bus service (org.nixos.Containers) and the nixos-container CLI";
    mainProgram = "nixos-container";
    platforms = lib.platforms.linux;
  };
})
