// Internal QEMU snapshots (disks and RAM, inside the qcow2 files) through virsh: the binding has no snapshot API.
import { VeError } from '../core/ve-error.js';
import { SNAPSHOT_NAME } from '../operations/encode-ve-operation.js';
import { runVirsh } from './run-virsh.js';
import { translateLibvirtError } from './translate-libvirt-error.js';

export interface DomainSnapshots {
  /** internal snapshot of the running domain: disks and RAM; the guest pauses while RAM is written */
  create(domain: string, name: string): Promise<void>;
  /** back to the snapshot's disks and RAM: a snapshot of a running guest leaves it running */
  revert(domain: string, name: string): Promise<void>;
  list(domain: string): Promise<string[]>;
  /** forgets the snapshot's metadata only (the qcow2 files go with the VE); no error when absent */
  forget(domain: string, name: string): Promise<void>;
}

type Virsh = typeof runVirsh;

// Names reach virsh as option values: checked here too, whoever the caller is.
function checkName(name: string): string {
  if (!SNAPSHOT_NAME.test(name)) throw new VeError('invalid-field', 'prereq', `snapshot: not a snapshot name (got ${JSON.stringify(name)})`, { field: 'snapshot' });
  return name;
}

// Every virsh failure leaves as the same VeError shapes the libvirt adapter produces.
export function createDomainSnapshots(uri: string, virsh: Virsh = runVirsh): DomainSnapshots {
  const call = async (action: string, command: string, options: readonly string[]): Promise<string> => {
    const r = await virsh(uri, command, options, []);
    if (!r.ok) throw translateLibvirtError(new Error(r.message), uri, action);
    return r.stdout;
  };
  return {
    async create(domain, name) {
      // --atomic: all disks or none; without --disk-only libvirt takes an internal snapshot with RAM
      await call(`snapshot ${domain} as ${name}`, 'snapshot-create-as', ['--domain', domain, '--name', checkName(name), '--atomic']);
    },
    async revert(domain, name) {
      await call(`revert ${domain} to ${name}`, 'snapshot-revert', ['--domain', domain, '--snapshotname', checkName(name)]);
    },
    async list(domain) {
      const out = await call(`list snapshots of ${domain}`, 'snapshot-list', ['--domain', domain, '--name']);
      return out.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    },
    async forget(domain, name) {
      const r = await virsh(uri, 'snapshot-delete', ['--domain', domain, '--snapshotname', checkName(name), '--metadata'], []);
      if (!r.ok && !/not found|no domain snapshot|Domain not found/i.test(r.message)) throw translateLibvirtError(new Error(r.message), uri, `forget snapshot ${name} of ${domain}`);
    },
  };
}
