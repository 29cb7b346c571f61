#!/usr/bin/env bash
# Makes the build context of the raftflow image in OUT from the binary BIN:
# two tars the Dockerfile adds to an empty image. In them: the binary, the
# shared libraries it links (glibc, libstdc++, libgcc_s, libm) and their
# loader, a passwd/group naming the unprivileged user 10001, and the data
# folder that user owns. No base image is pulled.
#
#   deploy/rootfs.sh target/debug/raftflow /tmp/raftflow-image
set -euo pipefail
bin=${1:?usage: rootfs.sh BINARY OUT}
out=${2:?usage: rootfs.sh BINARY OUT}
rm -rf "$out"
tree="$out/tree"
mkdir -p "$tree/usr/local/bin" "$tree/etc" "$tree/tmp" "$tree/var/lib/raftflow"
cp "$bin" "$tree/usr/local/bin/raftflow"
strip "$tree/usr/local/bin/raftflow" 2>/dev/null || true
# Each library ldd resolves, and the loader, at the paths the binary asks for.
ldd "$bin" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$tree$(dirname "$lib")"
  cp -L "$lib" "$tree$lib"
done
printf 'root:x:0:0:root:/:/sbin/nologin\nraftflow:x:10001:10001:raftflow:/var/lib/raftflow:/sbin/nologin\n' > "$tree/etc/passwd"
printf 'root:x:0:\nraftflow:x:10001:\n' > "$tree/etc/group"
printf 'hosts: files dns\n' > "$tree/etc/nsswitch.conf"
chmod 1777 "$tree/tmp"
# Docker's COPY makes every file root's; ADD of a tar keeps the owners the
# tar names: root for the system, 10001 for the data folder. No chown, so
# this runs as any user.
tar -C "$tree" --numeric-owner --owner=0 --group=0 --exclude=./var/lib/raftflow -cf "$out/rootfs.tar" .
tar -C "$tree" --numeric-owner --owner=10001 --group=10001 -cf "$out/data.tar" ./var/lib/raftflow
printf 'tree\n' > "$out/.dockerignore"
echo "image context in $out: rootfs.tar $(du -sh "$out/rootfs.tar" | cut -f1), data.tar"
