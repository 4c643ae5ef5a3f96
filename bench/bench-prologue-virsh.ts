// c) the prologue's libvirt path (domain builder + Virt adapter) vs bare virsh, same XML, same
// private libvirtd: define, start, wait until running, destroy, undefine of one LXC container.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLibvirt, makeLxcImage } from '../test/harness/libvirt.js';
import { openLibvirtVirt } from '../src/virt/libvirt-virt.js';
import { buildDomainXml } from '../src/virt/build-domain-xml.js';
import { runCommand } from '../src/core/run-command.js';
import { findPercentile, timeMs } from './bench-row.js';
import { findContainerInit } from '../test/harness/find-container-init.js';
import type { LxcDomainSpec } from '../src/virt/domain-spec.js';
import { buildLxcIdMap } from '../src/host/lxc-id-ranges.js';
import { shiftTreeOwnership } from '../src/host/shift-tree-ownership.js';
import { DEFAULT_LXC_IDS } from '../src/config/pbs-ve-config.js';

async function virsh(uri: string, args: string[]): Promise<string> {
  const r = await runCommand('virsh', ['-c', uri, ...args], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`virsh ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

// A guest's init ignores SIGTERM until its TERM trap is set (PID 1 of a PID namespace): destroying it
// before then costs libvirt's ~1.8 s SIGKILL fallback. The prologue never destroys a guest that just
// started, so both sides wait, outside the timing, until the trap is there (SigCgt bit of SIGTERM).
async function waitUntilGuestSettled(uri: string, name: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const pid = await findContainerInit(uri, name);
    if (pid !== undefined) {
      const caught = /^SigCgt:\s+([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (caught !== undefined && (BigInt(`0x${caught}`) & (1n << 14n)) !== 0n) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`guest ${name}: no TERM trap within 10 s`);
}

export interface PrologueMeasure {
  /** define + start + running, median */
  readonly oursUpMs: number;
  readonly virshUpMs: number;
  /** destroy + undefine of a settled guest, median */
  readonly oursDownMs: number;
  readonly virshDownMs: number;
  readonly rounds: number;
}

export async function measurePrologueVsVirsh(rounds = 5): Promise<PrologueMeasure> {
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
    const m = { oursUp: [] as number[], virshUp: [] as number[], oursDown: [] as number[], virshDown: [] as number[] };
    try {
      for (let i = 0; i < rounds; i++) {
        const name = `pbsve-b${i}`;
        m.oursUp.push((await timeMs(async () => {
          await virt.defineDomain(buildDomainXml(spec(name)));
          await virt.startDomain(name);
          await virt.waitForState(name, (s) => s === 'running', 30_000);
        })).ms);
        await waitUntilGuestSettled(uri, name);
        m.oursDown.push((await timeMs(async () => {
          await virt.destroyDomain(name);
          await virt.undefineDomain(name);
        })).ms);
        const raw = `pbsve-r${i}`;
        const xmlFile = join(work, `raw${i}.xml`);
        writeFileSync(xmlFile, buildDomainXml(spec(raw)));
        m.virshUp.push((await timeMs(async () => {
          await virsh(uri, ['define', xmlFile]);
          await virsh(uri, ['start', raw]);
          while ((await virsh(uri, ['domstate', raw])).trim() !== 'running') await new Promise((r) => setTimeout(r, 20));
        })).ms);
        await waitUntilGuestSettled(uri, raw);
        m.virshDown.push((await timeMs(async () => {
          await virsh(uri, ['destroy', raw]);
          await virsh(uri, ['undefine', raw]);
        })).ms);
      }
    } finally {
      await virt.close();
    }
    return { oursUpMs: findPercentile(m.oursUp, 50), virshUpMs: findPercentile(m.virshUp, 50), oursDownMs: findPercentile(m.oursDown, 50), virshDownMs: findPercentile(m.virshDown, 50), rounds };
  } finally {
    await libvirt.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
