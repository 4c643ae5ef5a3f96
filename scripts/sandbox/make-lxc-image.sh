#!/bin/bash
# Build a busybox root filesystem for an LXC container from Debian's busybox-static only
# (no network needed). It is the catalog image "tiny" (type lxc): init is /bin/sh /init.sh.
#   make-lxc-image.sh DIR      (DIR is replaced)
# init arguments: /bin/sh /init.sh [HEARTBEAT_SECONDS (default 60)]
# The init prints CT-MARKER / CT-HEARTBEAT lines on stdout (the container console), asks DHCP for an
# address on every NIC in the background ("CT-MARKER: ip <addr> on <nic>" once leased), and exits on
# SIGTERM: PID 1 of a PID namespace ignores signals it has no handler for, so without the trap
# every libvirt destroy/shutdown would wait ~1.8 s for the SIGKILL fallback.
# SSH: Debian's dropbear with its libraries (copy-dropbear.sh); the init takes the host name the prologue
# seeded into /etc/hostname and starts dropbear on port 22 (keys: /root/.ssh/authorized_keys, seeded from
# ve create --ssh-key); its host keys are made in the VE at the first connection (dropbear -R), one set per VE.
# Boot script: /etc/pbs-ve/boot.sh (a cluster role's `run:`, seeded by the prologue) runs at every start, in the
# background after the NICs are set up, its output on the console ("CT-MARKER: boot script exit <rc>" when it ends).
set -euo pipefail
R=${1:?usage: make-lxc-image.sh DIR}
BUSYBOX=/bin/busybox
[[ $R == /* ]] || R=$(pwd)/$R
rm -rf -- "$R"
mkdir -p "$R"/{bin,proc,sys,dev,tmp,etc,var/log,root}
chmod 1777 "$R/tmp"
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do [[ $a == busybox ]] || ln -sf busybox "$R/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
echo /bin/sh >"$R/etc/shells"
chmod 0700 "$R/root"
bash "$(dirname "${BASH_SOURCE[0]}")/copy-dropbear.sh" "$R"
# udhcpc runs this on every lease event: the address goes on the NIC, no routes (the VE networks are isolated)
cat >"$R/etc/udhcpc.script" <<'DHCP'
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
chmod 0755 "$R/etc/udhcpc.script"
cat >"$R/init.sh" <<'INIT'
#!/bin/sh
export PATH=/bin
trap 'echo "CT-MARKER: SIGTERM -> exit"; exit 0' TERM
[ -s /etc/hostname ] && hostname -F /etc/hostname 2>/dev/null
echo "CT-MARKER: container init pid=$$ uptime=$(cut -d' ' -f1 /proc/uptime) hostname=$(hostname) args=$*"
ip link set lo up 2>/dev/null
for nic in /sys/class/net/*; do
  nic=${nic##*/}
  [ "$nic" = lo ] && continue
  # a static address (libvirt set it before init: a cluster network without DHCP) stays: udhcpc would flush it
  if ip -4 -o addr show dev "$nic" | grep -q inet; then echo "CT-MARKER: ip $(ip -4 -o addr show dev "$nic" | sed 's/.* inet \([0-9.]*\).*/\1/') on $nic (static)"; continue; fi
  # background and quiet: the init (and its console marker) never waits for the network
  udhcpc -i "$nic" -s /etc/udhcpc.script -f -t 60 -T 1 -A 1 2>/dev/null &
done
# -R: host keys made at the first connection, in this VE's own rootfs; -E: log on the console
if [ -x /usr/sbin/dropbear ]; then
  /usr/sbin/dropbear -F -R -E -p 22 &
  echo "CT-MARKER: dropbear started on port 22"
fi
# the owner's boot script: in the background (the init never waits for it), stdin closed, output on the console
if [ -f /etc/pbs-ve/boot.sh ]; then
  echo "CT-MARKER: boot script started"
  ( /bin/sh /etc/pbs-ve/boot.sh </dev/null 2>&1; echo "CT-MARKER: boot script exit $?" ) &
fi
i=0
while true; do
  i=$((i + 1))
  echo "CT-HEARTBEAT $i $(date +%s)"
  # sleep in the background so the TERM trap runs at once, not after the sleep
  sleep "${1:-60}" &
  wait $!
done
INIT
chmod 0755 "$R/init.sh"
du -sh "$R"
