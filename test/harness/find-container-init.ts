// The PID 1 of a sandbox's LXC container as the host sees it, found through that sandbox's own libvirtd.
// A domain name is no proof: every sandbox on the machine numbers its jobs from 1, so several libvirtds run
// a "pbsve-1" at once, and a /proc scan by LIBVIRT_LXC_NAME took another sandbox's container (its own
// subnet, "Network is unreachable"): the network test's pings failed, or passed for the wrong reason.
import { readFileSync, readdirSync } from 'node:fs';
import { runCommand } from '../../src/core/run-command.js';

// libvirt's LXC driver gives the domain the libvirt_lxc controller's pid as its id; the init is the
// controller's child that is PID 1 of its PID namespace.
export async function findContainerInit(lxcUri: string, domain: string): Promise<number | undefined> {
  const r = await runCommand('virsh', ['-q', '-c', lxcUri, 'domid', domain], { timeoutMs: 30_000 });
  const controller = r.stdout.trim();
  if (r.exitCode !== 0 || !/^[0-9]+$/.test(controller)) return undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (new RegExp(`^PPid:\\s+${controller}$`, 'm').test(status) && /^NSpid:.*\s1$/m.test(status)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
