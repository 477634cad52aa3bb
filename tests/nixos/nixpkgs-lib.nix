# nixpkgs' lib, offline: the directory NIXOS_CONTAINERS_NIXPKGS_LIB names
# (the tests unpack the vendored tarball there), else the vendored tarball
# itself, beside the repository in ../shared/vendor (unpacked into the Nix
# store: as root, or with NIX_STORE_DIR and NIX_STATE_DIR set).
let
  fromEnv = builtins.getEnv "NIXOS_CONTAINERS_NIXPKGS_LIB";
  tarball = toString ../../../shared/vendor/nixpkgs-lib-de42d442.tar.gz;
in
if fromEnv != "" then import fromEnv
else import (builtins.fetchTarball "file://${tarball}" + "/lib")
