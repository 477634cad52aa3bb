# Builder of system.nix, run by the payload's busybox inside Nix's build sandbox.
set -e
bb=$src/bin/busybox
if [ -n "$fail" ]; then
    echo "payload.fail is set: this system does not build" >&2
    exit 1
fi
$bb cp -a "$src" "$out"
$bb chmod -R u+w "$out"
# The scripts name each other by absolute path; the tree writes @out@ for it.
for script in init payload.sh bin/answer bin/switch-to-configuration; do
    if [ -f "$out/$script" ] && [ ! -L "$out/$script" ]; then
        $bb sed -i "s|@out@|$out|g" "$out/$script"
    fi
done
[ -z "$message" ] || echo "$message" >"$out/message"
$bb chmod -R a+rX,go-w "$out"
