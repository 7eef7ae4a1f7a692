#!/usr/bin/env bash
# Debian's static busybox for arm64, for the multi-platform base tests (modelcar base --busybox linux/arm64=PATH).
# Fetched as a .deb with apt-get download and unpacked with dpkg-deb -x (nothing is installed); the arm64 architecture
# is added only for that download and removed again. Usage: fetch-arm64-busybox.sh DEST_DIR (root, once).
set -euo pipefail
dest="$1"
[ -x "$dest/bin/busybox" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
added=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
  added=1
fi
cleanup_arch() { if [ "$added" = 1 ]; then dpkg --remove-architecture arm64 || true; fi; }
trap 'cleanup_arch; rm -rf "$work"' EXIT
apt-get update -qq
(cd "$work" && apt-get download -qq busybox-static:arm64)
mkdir -p "$dest"
dpkg-deb -x "$work"/busybox-static_*_arm64.deb "$work/x"
install -D -m 0755 "$work/x/bin/busybox" "$dest/bin/busybox"
echo "fetch-arm64-busybox: $(file -b "$dest/bin/busybox" 2>/dev/null || echo 'arm64 busybox') -> $dest/bin/busybox"
