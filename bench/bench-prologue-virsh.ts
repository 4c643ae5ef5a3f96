// c) the prologue's libvirt path (domain builder + Virt adapter) vs bare virsh, same XML, same
// private libvirtd: define, start, wait until running, destroy, undefine of one LXC container.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLibvirt, makeLxcImage } from '../test/harness/libvirt.js';
import { openLibvirtVirt } from '../src/virt/libvirt-virt.js';
import { buildDomainXml } from '../src/virt/build-domain-xml.js';
import { runCommand } from '../src/core/run-command.js';
import { timeMs, type BenchRow } from './bench-row.js';
import type { LxcDomainSpec } from '../src/virt/domain-spec.js';
import { buildLxcIdMap } from '../src/host/lxc-id-ranges.js';
import { shiftTreeOwnership } from '../src/host/shift-tree-ownership.js';
import { DEFAULT_LXC_IDS } from '../src/config/pbs-ve-config.js';

async function virsh(uri: string, args: string[]): Promise<string> {
  const r = await runCommand('virsh', ['-c', uri, ...args], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`virsh ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

export async function benchPrologueVsVirsh(rounds = 5): Promise<BenchRow> {
  const libvirt = await startLibvirt({ nodes: ['node1'] });
  const work = mkdtempSync('/tmp/pbsve-bench-img-');
  try {
    const image = await makeLxcImage(join(work, 'tiny.rootfs'));
    // containers run in a user namespace: the rootfs is the mapped root's, and reachable for it
    const idMap = buildLxcIdMap(DEFAULT_LXC_IDS, DEFAULT_LXC_IDS.slots - 1);
    await shiftTreeOwnership(image.rootfsDir, idMap);
    chmodSync(work, 0o711);
    const uri = libvirt.nodes['node1']?.lxcUri ?? '';
    const spec = (name: string): LxcDomainSpec => ({
      name, type: 'lxc', vcpus: 1, memoryMiB: 64, title: `VE ${name}`, metadata: { jobId: '1', owner: 'bench', veName: name }, lxc: { rootfsDir: image.rootfsDir, idMap, init: [...image.init] },
    });
    const virt = await openLibvirtVirt(uri);
    const ours: number[] = [];
    const raw: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const a = await timeMs(async () => {
          const name = `pbsve-b${i}`;
          await virt.defineDomain(buildDomainXml(spec(name)));
          await virt.startDomain(name);
          await virt.waitForState(name, (s) => s === 'running', 30_000);
          await virt.destroyDomain(name);
          await virt.undefineDomain(name);
        });
        ours.push(a.ms);
        const xmlFile = join(work, `raw${i}.xml`);
        writeFileSync(xmlFile, buildDomainXml(spec(`pbsve-r${i}`)));
        const b = await timeMs(async () => {
          const name = `pbsve-r${i}`;
          await virsh(uri, ['define', xmlFile]);
          await virsh(uri, ['start', name]);
          while ((await virsh(uri, ['domstate', name])).trim() !== 'running') await new Promise((r) => setTimeout(r, 20));
          await virsh(uri, ['destroy', name]);
          await virsh(uri, ['undefine', name]);
        });
        raw.push(b.ms);
      }
    } finally {
      await virt.close();
    }
    const a = median(ours);
    const b = median(raw);
    return { name: 'prologue libvirt path (LXC)', ours: `${a.toFixed(0)} ms`, raw: `virsh ${b.toFixed(0)} ms`, ratio: a / b, note: `median of ${rounds}; define+start+running+destroy+undefine` };
  } finally {
    await libvirt.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
