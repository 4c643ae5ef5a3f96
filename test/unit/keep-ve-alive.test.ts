import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { keepVeAlive } from '../../src/job-body/keep-ve-alive.js';
import { writeVeJobRecord, writeVeRefusal } from '../../src/host/ve-job-record.js';
import type { DomainInfo, Virt } from '../../src/virt/virt.js';

const spec = { version: 1 as const, name: 'web1', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 };
const clock = { now: () => new Date(), sleep: () => Promise.resolve() };

// A scripted read-only Virt: each getDomain answer in turn, an Error meaning "libvirtd did not answer".
function buildVirt(answers: (DomainInfo | undefined | Error)[]): Virt {
  const fail = (): never => { throw new Error('read-only'); };
  return {
    uri: 'test', defineDomain: fail, startDomain: fail, destroyDomain: fail, shutdownDomain: fail, undefineDomain: fail, getDomainXml: fail, waitForState: fail, listDomains: fail,
    getDomain: () => { const a = answers.shift(); return a instanceof Error ? Promise.reject(a) : Promise.resolve(a); },
    close: () => Promise.resolve(),
  };
}

void t.test('the job lives while the domain runs, through libvirtd hiccups, and ends when it stops', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'keep-'));
  writeVeJobRecord(stateDir, { jobId: '7', spec, owner: 'u', host: 'node1', domain: 'pbsve-7', uri: 'x', roUri: 'y', startCount: 1, status: 'realized', reason: '', emulated: false });
  const running: DomainInfo = { name: 'pbsve-7', state: 'running', persistent: true };
  const answers = [running, new Error('libvirtd restarting'), new Error('still'), running, { ...running, state: 'shutoff' as const }];
  const lines: string[] = [];
  const out = await keepVeAlive('7', { stateDir, clock, pollMs: 1, log: (l) => lines.push(l), openVirt: () => Promise.resolve(buildVirt(answers)) });
  t.equal(out, 'guest-stopped');
  t.equal(answers.length, 0, 'kept polling through the errors');
  t.match(lines.join('\n'), /still waiting/);
});

void t.test('a refused VE job tells its owner why and ends', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'keep-'));
  writeVeRefusal(stateDir, '8', 'vcpus 2 > 1 allocated');
  const lines: string[] = [];
  t.equal(await keepVeAlive('8', { stateDir, clock, pollMs: 1, log: (l) => lines.push(l), openVirt: () => Promise.reject(new Error('unused')) }), 'refused');
  t.match(lines[0] ?? '', /refused by the prologue: vcpus 2 > 1 allocated/);
});
