#!/bin/bash
# Copy Debian's dropbear SSH server (package dropbear-bin) with the shared libraries it links against into
# a guest root tree, for the sandbox images (tiny LXC rootfs, tinyvm initramfs):
#   copy-dropbear.sh ROOT
# Host keys are not made here: the guest's `dropbear -R` makes them at its first connection, so no two VEs share one.
set -euo pipefail
R=${1:?usage: copy-dropbear.sh ROOT}
DROPBEAR=/usr/sbin/dropbear
[[ -x $DROPBEAR ]] || { echo "copy-dropbear: $DROPBEAR missing (apt-get install dropbear-bin; scripts/install-deps.sh)" >&2; exit 3; }
mkdir -p "$R/usr/sbin" "$R/etc/dropbear"
cp "$DROPBEAR" "$R/usr/sbin/dropbear"
# every "=> /path" line and the loader: copied to the same absolute path inside the guest
for lib in $(ldd "$DROPBEAR" | sed -n -e 's/.*=> \(\/[^ ]*\) .*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
