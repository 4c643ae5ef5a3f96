#!/bin/sh
# The init (PID 1, run by /bin/sh) of the sandbox's LXC images, tiny (make-lxc-image.sh) and debian-slurm
# (make-debian-slurm-image.sh): both builders copy this file to /init.sh, so the images boot alike.
# Arguments: [HEARTBEAT_SECONDS (default 60)]
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# PID 1 of a PID namespace ignores signals it has no handler for: without the trap every libvirt
# destroy/shutdown would wait ~1.8 s for the SIGKILL fallback
trap 'echo "CT-MARKER: SIGTERM -> exit"; exit 0' TERM
[ -s /etc/hostname ] && hostname -F /etc/hostname 2>/dev/null
echo "CT-MARKER: container init pid=$$ uptime=$(cut -d' ' -f1 /proc/uptime) hostname=$(hostname) args=$*"
mkdir -p /run /tmp && chmod 1777 /tmp
ip link set lo up 2>/dev/null
for nic in /sys/class/net/*; do
  nic=${nic##*/}
  [ "$nic" = lo ] && continue
  # a static address (libvirt set it before init: a cluster network without DHCP) stays: udhcpc would flush it
  if ip -4 -o addr show dev "$nic" | grep -q inet; then echo "CT-MARKER: ip $(ip -4 -o addr show dev "$nic" | sed 's/.* inet \([0-9.]*\).*/\1/') on $nic (static)"; continue; fi
  # background and quiet: the init (and its console marker) never waits for the network
  busybox udhcpc -i "$nic" -s /etc/udhcpc.script -f -t 60 -T 1 -A 1 2>/dev/null &
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
