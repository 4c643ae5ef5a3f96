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
# The init (/init.sh, run by dash as PID 1) does what the tiny image's does (make-lxc-image.sh): hostname from
# /etc/hostname, lo up, a NIC that libvirt gave a static address (the cluster network) keeps it, the others
# ask DHCP (busybox udhcpc, in the background), dropbear on port 22 with the seeded /root/.ssh/authorized_keys
# (host keys made at the first connection: -R), /etc/pbs-ve/boot.sh in the background with its output on the
# console, heartbeats, exit on SIGTERM (PID 1 ignores signals it has no handler for).
set -euo pipefail
OUT=${1:?usage: make-debian-slurm-image.sh DIR}
[[ $OUT == /* ]] || OUT=$(pwd)/$OUT
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKGS=slurmd,slurmctld,slurm-client,munge,dropbear-bin,iproute2,busybox,procps,iputils-ping
R=$OUT/rootfs

if [[ -s $R/init.sh && -s $OUT/complete ]]; then echo "ROOTFS=$R"; exit 0; fi
command -v debootstrap >/dev/null || { echo "make-debian-slurm-image: debootstrap missing (apt-get install debootstrap; scripts/install-deps.sh)" >&2; exit 3; }
mkdir -p "$OUT"
# two sandboxes starting at once (two test runs) build one cache: the second waits and takes the first one's build
exec 9>"$OUT/.lock"
flock 9
if [[ -s $R/init.sh && -s $OUT/complete ]]; then echo "ROOTFS=$R"; exit 0; fi
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
cat >"$N/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    echo "CT-MARKER: ip $ip on $interface" ;;
esac
exit 0
DHCP
chmod 0755 "$N/etc/udhcpc.script"
cat >"$N/init.sh" <<'INIT'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
trap 'echo "CT-MARKER: SIGTERM -> exit"; exit 0' TERM
[ -s /etc/hostname ] && hostname -F /etc/hostname 2>/dev/null
echo "CT-MARKER: container init pid=$$ uptime=$(cut -d' ' -f1 /proc/uptime) hostname=$(hostname) image=debian-slurm"
mkdir -p /run /tmp && chmod 1777 /tmp
ip link set lo up 2>/dev/null
for nic in /sys/class/net/*; do
  nic=${nic##*/}
  [ "$nic" = lo ] && continue
  # a static address (libvirt set it before init: a cluster network without DHCP) stays: udhcpc would flush it
  if ip -4 -o addr show dev "$nic" | grep -q inet; then echo "CT-MARKER: ip $(ip -4 -o addr show dev "$nic" | sed 's/.* inet \([0-9.]*\).*/\1/') on $nic (static)"; continue; fi
  busybox udhcpc -i "$nic" -s /etc/udhcpc.script -f -t 60 -T 1 -A 1 2>/dev/null &
done
if [ -x /usr/sbin/dropbear ]; then
  /usr/sbin/dropbear -F -R -E -p 22 &
  echo "CT-MARKER: dropbear started on port 22"
fi
if [ -f /etc/pbs-ve/boot.sh ]; then
  echo "CT-MARKER: boot script started"
  ( /bin/sh /etc/pbs-ve/boot.sh </dev/null 2>&1; echo "CT-MARKER: boot script exit $?" ) &
fi
i=0
while true; do
  i=$((i + 1))
  echo "CT-HEARTBEAT $i $(date +%s)"
  sleep 60 &
  wait $!
done
INIT
chmod 0755 "$N/init.sh"
echo "debootstrap bookworm minbase + $PKGS: $(( $(date +%s) - started )) s, $(du -sh "$N" | cut -f1), $(find "$N" | wc -l) entries" >"$N/etc/pbs-ve/image-build"
rm -rf -- "$R"
mv -- "$N" "$R"
cp "$R/etc/pbs-ve/image-build" "$OUT/complete"
cat "$OUT/complete" >&2
echo "ROOTFS=$R"
