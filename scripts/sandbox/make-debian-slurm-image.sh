#!/bin/bash
# Build a Debian 12 root filesystem with Slurm inside, for LXC: the sandbox catalog image "debian-slurm" (type lxc,
# ssh true), used by examples/batch-cluster.yaml (a Slurm cluster inside a virtual cluster).
#   make-debian-slurm-image.sh DIR
# DIR is a cache (the sandbox passes /var/cache/pbs-ve/debian-slurm/<hash of this script>): a complete build in
# DIR/rootfs is kept; otherwise debootstrap (minbase + Slurm, munge, dropbear, iproute2, busybox for udhcpc) makes
# one from the Debian mirror into DIR/rootfs.new, which is renamed to DIR/rootfs only when complete.
# Prints ROOTFS=DIR/rootfs. Exit 3 when there is no build and none can be made (no debootstrap, no mirror).
#
# No munge key is in the image: Debian's munge postinst makes one, which every VE of the image would share.
# The cluster's boot script makes its own (examples/batch-cluster.yaml). No daemon is enabled: the init below
# starts only the network, dropbear and the owner's boot script.
# The init (/init.sh, run by dash as PID 1) and the DHCP script are the tiny image's (lxc-init.sh, udhcpc.script):
# hostname from /etc/hostname, lo up, a NIC that libvirt gave a static address (the cluster network) keeps it, the
# others ask DHCP (busybox udhcpc), dropbear on port 22, /etc/pbs-ve/boot.sh in the background, exit on SIGTERM.
# They are put into the cached rootfs at every call (only when they differ, by rename), so a change to them
# needs no new debootstrap.
set -euo pipefail
OUT=${1:?usage: make-debian-slurm-image.sh DIR}
[[ $OUT == /* ]] || OUT=$(pwd)/$OUT
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKGS=slurmd,slurmctld,slurm-client,munge,dropbear-bin,iproute2,busybox,procps,iputils-ping
R=$OUT/rootfs
HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")

# put FILE at PATH in a rootfs, mode 0755, by rename (a VE copying the cached rootfs never sees half a file)
put_file() {
  cmp -s "$1" "$2" && return 0
  install -m 0755 "$1" "$2.new.$$"
  mv -f -- "$2.new.$$" "$2"
}
# the shared init and DHCP script into a rootfs
put_init() {
  put_file "$HERE/udhcpc.script" "$1/etc/udhcpc.script"
  put_file "$HERE/lxc-init.sh" "$1/init.sh"
}

if [[ -s $R/init.sh && -s $OUT/complete ]] && cmp -s "$HERE/lxc-init.sh" "$R/init.sh" && cmp -s "$HERE/udhcpc.script" "$R/etc/udhcpc.script"; then echo "ROOTFS=$R"; exit 0; fi
mkdir -p "$OUT"
# two sandboxes starting at once (two test runs) build one cache: the second waits and takes the first one's build
exec 9>"$OUT/.lock"
flock 9
if [[ -s $R/init.sh && -s $OUT/complete ]]; then put_init "$R"; echo "ROOTFS=$R"; exit 0; fi
command -v debootstrap >/dev/null || { echo "make-debian-slurm-image: debootstrap missing (apt-get install debootstrap; scripts/install-deps.sh)" >&2; exit 3; }
rm -rf -- "$OUT/rootfs.new"
N=$OUT/rootfs.new
started=$(date +%s)
if ! debootstrap --variant=minbase --include="$PKGS" bookworm "$N" "$MIRROR" >"$OUT/debootstrap.log" 2>&1; then
  tail -n 20 "$OUT/debootstrap.log" >&2
  echo "make-debian-slurm-image: debootstrap from $MIRROR failed (log: $OUT/debootstrap.log)" >&2
  exit 3
fi
# per-image secrets and caches out: every VE of the image must make its own
rm -f "$N/etc/munge/munge.key" "$N"/etc/dropbear/dropbear_*_host_key "$N"/etc/ssh/ssh_host_*
rm -rf "$N"/var/cache/apt/archives/*.deb "$N"/var/lib/apt/lists/* "$N"/usr/share/doc/* "$N"/usr/share/man/* "$N"/usr/share/info/* "$N"/usr/share/locale/*
# the container's root logs in with a key; its shell must be in /etc/shells for dropbear (bash is)
mkdir -p "$N/root/.ssh" "$N/etc/pbs-ve" "$N/etc/slurm" "$N/etc/dropbear"
chmod 0700 "$N/root" "$N/root/.ssh"
: >"$N/etc/machine-id"
put_init "$N"
echo "debootstrap bookworm minbase + $PKGS: $(( $(date +%s) - started )) s, $(du -sh "$N" | cut -f1), $(find "$N" | wc -l) entries" >"$N/etc/pbs-ve/image-build"
rm -rf -- "$R"
mv -- "$N" "$R"
cp "$R/etc/pbs-ve/image-build" "$OUT/complete"
cat "$OUT/complete" >&2
echo "ROOTFS=$R"
