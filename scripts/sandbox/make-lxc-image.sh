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
HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
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
bash "$HERE/copy-dropbear.sh" "$R"
# the init and the DHCP script are shared with the debian-slurm image (lxc-init.sh, udhcpc.script)
install -m 0755 "$HERE/udhcpc.script" "$R/etc/udhcpc.script"
install -m 0755 "$HERE/lxc-init.sh" "$R/init.sh"
du -sh "$R"
