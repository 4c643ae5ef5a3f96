#!/bin/bash
# Build the tiny bootable QEMU guest of the sandbox catalog ("tinyvm", type kvm) from Debian packages:
#   - the cloud kernel (linux-image-<version>-cloud-amd64, the current one that the metapackage
#     linux-image-cloud-amd64 depends on), fetched with apt-get download and unpacked with dpkg-deb -x
#     (the cloud flavour boots faster under TCG than the generic one);
#   - a busybox initramfs (busybox-static) whose init prints "VE-MARKER:" lines and heartbeats on the
#     serial console (ttyS0), lists the virtio disks it sees and powers off on the ACPI power button;
#   - VE networks: virtio_net (with failover/net_failover) and a udhcpc run per NIC in the init, which
#     prints "VE-MARKER: ip <addr> on <nic>" once leased;
#   - an empty 64 MiB qcow2 base disk (the per-VE overlay's backing file; the guest writes its
#     heartbeat into the first sector of vda);
#   - cloud-init seed support: isofs, and an init block that mounts the disk labelled "cidata" (a NoCloud
#     seed, attached by the prologue as a read-only virtio disk), prints its hostname and key count and
#     applies it as cloud-init would: hostname, /etc/hosts (the seed's base64 write_files entry), the keys
#     as root's /root/.ssh/authorized_keys, the static addresses of network-config (one NIC a line, matched
#     by MAC; the other NICs ask DHCP), and runs the owner's boot script (the per-boot write_files entry)
#     in the background once the NICs are up ("VE-MARKER: boot script exit <rc>");
#   - SSH: Debian's dropbear with its libraries (copy-dropbear.sh), started on port 22 once the NICs are
#     up; host keys made in the guest at the first connection (dropbear -R), so no two VEs share them.
#
#   make-qemu-image.sh DIR
#
# DIR is a cache: when it already holds a complete build for the current kernel version nothing is
# downloaded. When the kernel version cannot be resolved or downloaded (no network) and DIR holds an
# older complete build, that one is kept. A build made by another version of this script (its sha256
# is kept in DIR/script-sha256) is rebuilt, so an edit of the guest never meets a stale cache. Prints KEY=VALUE lines on stdout:
#   KERNEL=DIR/vmlinuz  INITRD=DIR/initramfs.cpio.gz  DISK=DIR/base.qcow2  KERNEL_VERSION=...  CMDLINE=...
# Exit 3 when there is no usable build and none can be made (no network, no package).
set -euo pipefail

OUT=${1:?usage: make-qemu-image.sh DIR}
[[ $OUT == /* ]] || OUT=$(pwd)/$OUT
CMDLINE="console=ttyS0 panic=-1"
MODULES=(acpi/button input/evdev virtio/virtio virtio/virtio_ring virtio/virtio_pci_legacy_dev
  virtio/virtio_pci_modern_dev virtio/virtio_pci block/virtio_blk misc/pvpanic/pvpanic misc/pvpanic/pvpanic-mmio)
# cloud-init seed: the ISO 9660 file system and the cdrom helpers it links against (relative to kernel/)
SEED_MODULES=(drivers/cdrom/cdrom fs/isofs/isofs)
HERE=$(dirname "${BASH_SOURCE[0]}")
SCRIPT_SHA=$(cat "${BASH_SOURCE[0]}" "$HERE/copy-dropbear.sh" | sha256sum | cut -d' ' -f1)
# VE networks: the virtio NIC and its dependencies, relative to lib/modules/<version>/kernel
NET_MODULES=(net/core/failover drivers/net/net_failover drivers/net/virtio_net)

complete() { [[ -s $OUT/vmlinuz && -s $OUT/initramfs.cpio.gz && -s $OUT/base.qcow2 && -s $OUT/kernel-version ]]; }
# the cache matches this script only when it was built by exactly this version of it
current() { complete && [[ -s $OUT/script-sha256 && $(cat "$OUT/script-sha256") == "$SCRIPT_SHA" ]]; }

report() {
  echo "KERNEL=$OUT/vmlinuz"
  echo "INITRD=$OUT/initramfs.cpio.gz"
  echo "DISK=$OUT/base.qcow2"
  echo "KERNEL_VERSION=$(cat "$OUT/kernel-version")"
  echo "CMDLINE=$CMDLINE"
}

# e.g. linux-image-6.1.0-56-cloud-amd64 (never hardcoded: security updates bump the ABI number)
PKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1 || true)
if [[ -z $PKG ]]; then
  if complete; then echo "make-qemu-image: cannot resolve linux-image-cloud-amd64; keeping the cached build" >&2; report; exit 0; fi
  echo "make-qemu-image: apt-cache knows no linux-image-cloud-amd64 (run apt-get update?)" >&2
  exit 3
fi
KV=${PKG#linux-image-}
if current && [[ $(cat "$OUT/kernel-version") == "$KV" ]]; then report; exit 0; fi

WORK=$(mktemp -d /tmp/pbs-ve-qemu-image.XXXXXX)
trap 'rm -rf -- "$WORK"' EXIT
mkdir -p "$WORK/deb" "$WORK/kernel" "$WORK/root"
# _apt cannot write into a root-only mktemp dir: let it, or apt warns and downloads unsandboxed
chmod 0755 "$WORK" && chown _apt "$WORK/deb" 2>/dev/null || true
if ! (cd "$WORK/deb" && timeout 300 apt-get download -q "$PKG" >&2); then
  if complete; then echo "make-qemu-image: download of $PKG failed; keeping the cached build ($(cat "$OUT/kernel-version"))" >&2; report; exit 0; fi
  echo "make-qemu-image: apt-get download $PKG failed (no network?)" >&2
  exit 3
fi
dpkg-deb -x "$WORK"/deb/"$PKG"_*.deb "$WORK/kernel"
MODSRC=$WORK/kernel/lib/modules/$KV/kernel/drivers

R=$WORK/root
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/etc/acpi/PWRF" "$R/tmp" "$R/lib/modules"
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
# --- SSH: dropbear, root's account ---
bash "$HERE/copy-dropbear.sh" "$R"
mkdir -p "$R/root" "$R/dev/pts"
chmod 0700 "$R/root"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
echo /bin/sh >"$R/etc/shells"
# --- end SSH ---
for m in "${MODULES[@]}"; do
  if [[ ! -f $MODSRC/$m.ko ]]; then echo "make-qemu-image: $PKG has no $m.ko (compressed modules are not supported)" >&2; exit 3; fi
  cp "$MODSRC/$m.ko" "$R/lib/modules/"
done
# cloud-init seed modules
for m in "${SEED_MODULES[@]}"; do
  if [[ ! -f $MODSRC/../$m.ko ]]; then echo "make-qemu-image: $PKG has no $m.ko (compressed modules are not supported)" >&2; exit 3; fi
  cp "$MODSRC/../$m.ko" "$R/lib/modules/"
done
# --- VE networks: NIC modules and the DHCP client's script ---
for m in "${NET_MODULES[@]}"; do
  if [[ ! -f $WORK/kernel/lib/modules/$KV/kernel/$m.ko ]]; then echo "make-qemu-image: $PKG has no $m.ko" >&2; exit 3; fi
  cp "$WORK/kernel/lib/modules/$KV/kernel/$m.ko" "$R/lib/modules/"
done
cat >"$R/etc/udhcpc.script" <<'DHCP'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    echo "VE-MARKER: ip $ip on $interface" ;;
esac
exit 0
DHCP
chmod +x "$R/etc/udhcpc.script"
# --- end VE networks ---
# busybox acpid: event PWRF -> /etc/acpi/PWRF/00000080 (virsh shutdown presses the power button)
cat >"$R/etc/acpi/PWRF/00000080" <<'PW'
#!/bin/sh
echo "VE-MARKER: ACPI power button -> poweroff" > /dev/console
sync
/bin/busybox poweroff -f
PW
chmod +x "$R/etc/acpi/PWRF/00000080"
cat >"$R/init" <<'INIT'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "VE-MARKER: init started, uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r)"
echo "VE-MARKER: mem $(grep MemTotal /proc/meminfo)"
echo "VE-MARKER: cpus $(grep -c ^processor /proc/cpuinfo)"
# no modprobe/depmod here: load in a few passes so a module whose dependency came later still loads
todo="virtio_ring virtio button evdev virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk pvpanic pvpanic-mmio"
todo="$todo cdrom isofs" # cloud-init seed
for pass in 1 2 3; do
  left=""
  for m in $todo; do insmod /lib/modules/$m.ko 2>/dev/null || left="$left $m"; done
  todo=$left
done
[ -n "$todo" ] && echo "VE-MARKER: modules not loaded:$todo"
acpid -c /etc/acpi -l /tmp/acpid.log 2>/dev/null
echo 0 > /proc/sys/kernel/ctrl-alt-del
trap 'echo "VE-MARKER: SIGINT (ctrl-alt-del) -> poweroff"; sync; poweroff -f' INT
for a in $(cat /proc/cmdline); do
  case $a in ve.panic_after=*) ( sleep ${a#*=}; echo "VE-MARKER: triggering kernel panic"; echo c > /proc/sysrq-trigger ) & ;; esac
done
# virtio_blk probes asynchronously: give the disks up to 2 s to show up
n=0; while [ ! -e /sys/block/vda ] && [ $n -lt 10 ]; do sleep 0.2; n=$((n+1)); done
for d in /sys/block/vd*; do
  [ -e "$d/size" ] && echo "VE-MARKER: disk ${d##*/} $(cat "$d/size") sectors"
done
# --- cloud-init seed (NoCloud): the disk labelled cidata, read-only; what a real cloud-init would apply ---
seed_t0=$(cut -d' ' -f1 /proc/uptime)
seed=$(findfs LABEL=cidata 2>/dev/null)
if [ -n "$seed" ] && mkdir -p /seed && mount -t iso9660 -o ro "$seed" /seed; then
  host=$(sed -n 's/^local-hostname: *//p' /seed/meta-data | tr -d '"')
  hostname "$host"
  echo "VE-MARKER: seed hostname=$host device=${seed#/dev/} uptime=$seed_t0->$(cut -d' ' -f1 /proc/uptime)"
  # user-data is "#cloud-config" and JSON: one key per line inside ssh_authorized_keys
  sed -n '/"ssh_authorized_keys"/,/]/p' /seed/user-data | grep -v -e ssh_authorized_keys -e '^ *]' >/tmp/seed-keys
  keys=$(grep -c . /tmp/seed-keys)
  first=$(head -n1 /tmp/seed-keys | tr -d '",' | awk '{print $3}')
  echo "VE-MARKER: seed ssh-keys=$keys first-comment=$first"
  # applied as cloud-init would: the host name, /etc/hosts, root's keys
  echo "$host" >/etc/hostname
  # a write_files entry by its path: JSON with one key a line, "content" (base64) last in the entry
  seed_file() { sed -n "\\|^ *\"path\": \"$1\",\$|,/\"content\"/p" /seed/user-data | sed -n 's/^ *"content": "\([A-Za-z0-9+\/=]*\)"$/\1/p' | head -n1; }
  b64=$(seed_file /etc/hosts)
  [ -n "$b64" ] && echo "$b64" | base64 -d >/etc/hosts && echo "VE-MARKER: seed hosts=$(grep -c . /etc/hosts)"
  # the owner's boot script (cloud-init: a per-boot script), run below once the NICs are up
  b64=$(seed_file /var/lib/cloud/scripts/per-boot/pbs-ve-boot.sh)
  [ -n "$b64" ] && mkdir -p /etc/pbs-ve && echo "$b64" | base64 -d >/etc/pbs-ve/boot.sh && echo "VE-MARKER: seed boot-script bytes=$(wc -c </etc/pbs-ve/boot.sh)"
  if [ "$keys" -gt 0 ]; then
    mkdir -p /root/.ssh && chmod 0700 /root/.ssh
    sed -e 's/^ *"//' -e 's/",\{0,1\}$//' /tmp/seed-keys >/root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
  fi
  # network-config (v2, one NIC a line, matched by MAC): read when the NICs come up below
  [ -f /seed/network-config ] && cp /seed/network-config /tmp/network-config && echo "VE-MARKER: seed network-config nics=$(grep -c macaddress /tmp/network-config)"
  umount /seed
else
  echo "VE-MARKER: seed none uptime=$seed_t0->$(cut -d' ' -f1 /proc/uptime)"
fi
# --- end cloud-init seed ---
# --- VE networks: load the NIC driver, ask DHCP on every NIC in the background ---
for pass in 1 2 3; do for m in failover net_failover virtio_net; do insmod /lib/modules/$m.ko 2>/dev/null; done; done
ip link set lo up
# virtio device id 1 is a NIC: give its driver up to 2 s to show eth0
n=0; while [ ! -e /sys/class/net/eth0 ] && grep -q 0x0001 /sys/bus/virtio/devices/*/device 2>/dev/null && [ $n -lt 10 ]; do sleep 0.2; n=$((n+1)); done
for nic in /sys/class/net/*; do
  nic=${nic##*/}
  [ "$nic" = lo ] && continue
  # a static address from the seed's network-config, as cloud-init would apply it; DHCP otherwise
  static=""
  mac=$(cat "/sys/class/net/$nic/address")
  [ -f /tmp/network-config ] && static=$(grep "\"macaddress\":\"$mac\"" /tmp/network-config | sed -n 's/.*"addresses":\["\([0-9.\/]*\)"\].*/\1/p')
  if [ -n "$static" ]; then
    ip link set "$nic" up && ip addr add "$static" dev "$nic" && echo "VE-MARKER: static $nic $static mtu $(cat "/sys/class/net/$nic/mtu")"
  else
    udhcpc -i "$nic" -s /etc/udhcpc.script -f -t 60 -T 1 -A 1 2>/dev/null &
  fi
done
# --- end VE networks ---
# --- SSH: dropbear on port 22; -R makes this guest's host keys at the first connection ---
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null
if [ -x /usr/sbin/dropbear ]; then
  /usr/sbin/dropbear -F -R -E -p 22 &
  echo "VE-MARKER: dropbear started on port 22"
fi
# --- end SSH ---
# --- the owner's boot script: in the background, stdin closed, output on the console (as the LXC tiny init) ---
if [ -f /etc/pbs-ve/boot.sh ]; then
  echo "VE-MARKER: boot script started"
  ( /bin/sh /etc/pbs-ve/boot.sh </dev/null 2>&1; echo "VE-MARKER: boot script exit $?" ) &
fi
# --- end boot script ---
i=0
while true; do
  i=$((i+1))
  echo "VE-HEARTBEAT $i uptime=$(cut -d' ' -f1 /proc/uptime)"
  [ -b /dev/vda ] && echo "VE-DISK hb=$i uptime=$(cut -d' ' -f1 /proc/uptime)" | dd of=/dev/vda bs=512 count=1 conv=sync,notrunc,fsync 2>/dev/null
  sleep 5 &
  wait $!
done
INIT
chmod +x "$R/init"
(cd "$R" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null | gzip -9) >"$WORK/initramfs.cpio.gz"
qemu-img create -q -f qcow2 "$WORK/base.qcow2" 64M

# replace the cache only with a complete build
mkdir -p "$OUT"
cp "$WORK/kernel/boot/vmlinuz-$KV" "$OUT/vmlinuz.tmp" && mv -f "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv -f "$WORK/initramfs.cpio.gz" "$OUT/initramfs.cpio.gz"
mv -f "$WORK/base.qcow2" "$OUT/base.qcow2"
chmod 0644 "$OUT/vmlinuz" "$OUT/initramfs.cpio.gz" "$OUT/base.qcow2"
echo "$KV" >"$OUT/kernel-version"
echo "$SCRIPT_SHA" >"$OUT/script-sha256"
report
