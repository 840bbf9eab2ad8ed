#!/bin/sh
# Installs lk-mount as a system service: the lk-mountd unit, an example /etc/lk-mount/config.yaml
# (never overwriting one that exists), the mount(8)/umount(8) helpers /sbin/mount.fuse.lk-mount
# and /sbin/umount.fuse.lk-mount, the `lk-mount` command in /usr/local/bin, and the socket group.
#
#   sudo scripts/install-systemd.sh [--prefix DIR] [--node PATH] [--group NAME] [--destdir DIR] [--no-enable]
#
#   --prefix   the built lk-mount tree (dist/ and node_modules/); default: this script's checkout
#   --node     the Node.js >= 20 binary; default: `command -v node`
#   --group    the group allowed on the control socket (created when missing); default lk-mount
#   --destdir  install under this root instead of / (packaging, tests): no group, no systemctl
#   --no-enable  do not run `systemctl enable --now lk-mountd`
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
prefix=$here
node=$(command -v node || true)
group=lk-mount
destdir=
enable=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --node) node=$2; shift 2 ;;
    --group) group=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --no-enable) enable=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "install-systemd.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ -n "$node" ] && [ -x "$node" ] || { echo "install-systemd.sh: no node binary (give --node PATH)" >&2; exit 1; }
[ -f "$prefix/dist/daemon/main.js" ] || { echo "install-systemd.sh: $prefix/dist/daemon/main.js is missing: run \`npm run build\` first" >&2; exit 1; }
case "$prefix" in /*) ;; *) echo "install-systemd.sh: --prefix must be absolute" >&2; exit 2 ;; esac

unitdir=$destdir/etc/systemd/system
install -d -m 0755 "$unitdir" "$destdir/etc/lk-mount" "$destdir/sbin" "$destdir/usr/local/bin"

# the unit, with this installation's node and prefix
sed -e "s#/usr/bin/node #$node #g" -e "s#/opt/lk-mount#$prefix#g" "$here/systemd/lk-mountd.service" > "$unitdir/lk-mountd.service.tmp"
chmod 0644 "$unitdir/lk-mountd.service.tmp"
mv "$unitdir/lk-mountd.service.tmp" "$unitdir/lk-mountd.service"

if [ ! -e "$destdir/etc/lk-mount/config.yaml" ]; then
  sed -e "s#group: lk-mount #group: $group #" "$here/systemd/config.example.yaml" > "$destdir/etc/lk-mount/config.yaml"
  chmod 0644 "$destdir/etc/lk-mount/config.yaml"
fi

# helpers: tiny wrappers, so mount(8) finds them by name and they run this installation
for kind in mount umount; do
  f=$destdir/sbin/$kind.fuse.lk-mount
  {
    echo '#!/bin/sh'
    echo "# $kind(8) helper for type fuse.lk-mount (installed by lk-mount's scripts/install-systemd.sh)"
    if [ "$kind" = umount ]; then
      echo "exec \"$node\" \"$prefix/dist/cli/mount-helper.js\" --umount \"\$@\""
    else
      echo "exec \"$node\" \"$prefix/dist/cli/mount-helper.js\" \"\$@\""
    fi
  } > "$f.tmp"
  chmod 0755 "$f.tmp"
  mv "$f.tmp" "$f"
done
{
  echo '#!/bin/sh'
  echo "exec \"$node\" \"$prefix/dist/cli/main.js\" \"\$@\""
} > "$destdir/usr/local/bin/lk-mount.tmp"
chmod 0755 "$destdir/usr/local/bin/lk-mount.tmp"
mv "$destdir/usr/local/bin/lk-mount.tmp" "$destdir/usr/local/bin/lk-mount"

echo "installed: $unitdir/lk-mountd.service, $destdir/etc/lk-mount/config.yaml, $destdir/sbin/{mount,umount}.fuse.lk-mount, $destdir/usr/local/bin/lk-mount"

[ -z "$destdir" ] || exit 0

if ! getent group "$group" >/dev/null 2>&1; then
  groupadd --system "$group" && echo "created group $group (add users who may mount: usermod -aG $group USER)"
fi
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  if [ "$enable" = 1 ]; then systemctl enable --now lk-mountd.service; fi
else
  echo "systemd is not running here: start the daemon with \`$prefix/dist/daemon/main.js --system\` (or boot with systemd)"
fi
