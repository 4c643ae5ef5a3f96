#!/bin/bash
# Installs the Debian 12 packages pbs-ve's sandbox and test suite need (root; idempotent, only what is missing).
#   services:  slapd + ldap-utils, Slurm (slurmctld, slurmd, client) + munge, libvirtd with the QEMU and LXC drivers,
#              slurmdbd + mariadb-server (Slurm accounting: the sandbox's per-user QOS limits, only when asked for)
#   guests:    qemu-system-x86 + qemu-utils (qcow2 overlays), genisoimage (cloud-init NoCloud seeds),
#              debootstrap (the Debian + Slurm LXC image debian-slurm, built only when a sandbox asks for it),
#              busybox-static (tiny guest root file systems), dropbear-bin (the sandbox guests' SSH server,
#              copied with its libraries into both images), openssh-client (ve ssh, ssh-keygen in tests)
#   networks:  dnsmasq-base (DHCP on VE networks, run by libvirtd) + iptables (libvirt's isolation rules)
#              + tcpdump (the cluster network test sees VXLAN packets on a simulated host's underlay)
#   build:     libvirt-dev + pkg-config (the @unraid/libvirt native addon compiles against them)
#   bench:     acct (accton: the boot storm's CPU breakdown comes from process accounting)
#   browser:   chromium + fonts-dejavu-core (the web console's tests drive Debian's Chromium headless through
#              playwright-core; no browser is downloaded)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "install-deps.sh: run as root (apt-get)" >&2; exit 1; }
PKGS=(slapd ldap-utils slurmctld slurmd slurm-client munge slurmdbd mariadb-server
      libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-driver-lxc libvirt-clients libvirt-dev pkg-config
      qemu-system-x86 qemu-utils genisoimage debootstrap busybox-static dropbear-bin openssh-client cpio python3 make g++ util-linux procps iproute2
      dnsmasq-base iptables tcpdump chromium fonts-dejavu-core acct)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # no daemon may start from a package's postinst: the sandbox runs its own private instances
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1
  fi
  trap 'if [ $own_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update -qq
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps.sh: all packages present"
fi
