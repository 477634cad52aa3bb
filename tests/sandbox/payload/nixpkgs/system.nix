# The sandbox's container system: the payload tree SRC (../make-system.sh
# --tree) copied into the store, its scripts pointed at the store path itself.
{ name, src, message ? "", fail ? false }:
derivation {
  inherit name src message;
  fail = if fail then "1" else "";
  system = "x86_64-linux";
  # The tree's own static busybox: the build needs nothing else.
  builder = "${src}/bin/busybox";
  args = [ "sh" ./install-system.sh ];
}
