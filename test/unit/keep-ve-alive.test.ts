import { createFakeVirt } from '../fakes/fake-virt.js';
import { makeTempDir } from '../harness/make-temp-dir.js';
import t from 'tap';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { keepVeAlive } from '../../src/job-body/keep-ve-alive.js';
import { writeVeJobRecord, writeVeRefusal } from '../../src/host/ve-job-record.js';
import { writeVeRecoveryRecord } from '../../src/host/ve-recovery-record.js';
import type { DomainInfo, Virt } from '../../src/virt/virt.js';

const spec = { version: 1 as const, name: 'web1', type: 'lxc' as const, image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 60 };
const clock = { now: () => new Date(), sleep: () => Promise.resolve() };

// A scripted read-only Virt: each getDomain answer in turn, an Error meaning "libvirtd did not answer".
function buildVirt(answers: (DomainInfo | undefined | Error)[]): Virt {
  const fail = (): never => { throw new Error('read-only'); };
  return createFakeVirt({
    uri: 'test', defineDomain: fail, startDomain: fail, destroyDomain: fail, shutdownDomain: fail, undefineDomain: fail, getDomainXml: fail, waitForState: fail, listDomains: fail,
    getDomain: () => { const a = answers.shift(); return a instanceof Error ? Promise.reject(a) : Promise.resolve(a); },
    close: () => Promise.resolve(),
  });
}

void t.test('the job lives while the domain runs, through libvirtd hiccups, and ends when it stops', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'keep-'));
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
  const stateDir = makeTempDir(join(tmpdir(), 'keep-'));
  writeVeRefusal(stateDir, '8', 'vcpus 2 > 1 allocated');
  const lines: string[] = [];
  t.equal(await keepVeAlive('8', { stateDir, clock, pollMs: 1, log: (l) => lines.push(l), openVirt: () => Promise.reject(new Error('unused')) }), 'refused');
  t.match(lines[0] ?? '', /refused by the prologue: vcpus 2 > 1 allocated/);
});

// A Virt that also answers the shut-off reason, as libvirt's does.
function buildVirtWithReason(answers: (DomainInfo | undefined)[], reason: string, onPoll: (n: number) => void = () => undefined): Virt {
  let n = 0;
  let last: DomainInfo | undefined;
  return {
    ...buildVirt([]), getDomain: () => { onPoll(n++); last = answers.shift(); return Promise.resolve(last); },
    getStateReason: () => Promise.resolve(last === undefined ? undefined : { state: last.state, reason }),
  };
}

void t.test('a crash does not end the job: it waits for the recovery, and ends when the recovery gives up', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'keep-'));
  const record = { jobId: '9', spec, owner: 'u', host: 'node1', domain: 'pbsve-9', uri: 'x', roUri: 'y', startCount: 1, status: 'realized' as const, reason: '', emulated: false };
  writeVeJobRecord(stateDir, record);
  const running: DomainInfo = { name: 'pbsve-9', state: 'running', persistent: true };
  const down: DomainInfo = { ...running, state: 'shutoff' };
  const lines: string[] = [];
  // down, down, running again (restarted), down, then the host gives up
  const answers = [running, down, down, running, down, down, down];
  const virt = buildVirtWithReason(answers, 'destroyed', (n) => {
    if (n === 5) writeVeRecoveryRecord(stateDir, '9', { phase: 'failed', restarts: [], reason: 'recovery gave up: no snapshot', updatedAt: new Date().toISOString() });
  });
  const out = await keepVeAlive('9', { stateDir, clock, pollMs: 1, log: (l) => lines.push(l), openVirt: () => Promise.resolve(virt) });
  t.equal(out, 'failed');
  t.equal(answers.length, 1, 'kept polling through the crash and the restart');
  t.match(lines.join('\n'), /is down \(crashed\); waiting up to 600 s[\s\S]*runs again[\s\S]*could not be recovered: recovery gave up: no snapshot/);
});

void t.test('a guest poweroff still ends the job at once; a crash nobody recovers ends it after the wait', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'keep-'));
  writeVeJobRecord(stateDir, { jobId: '10', spec, owner: 'u', host: 'node1', domain: 'pbsve-10', uri: 'x', roUri: 'y', startCount: 1, status: 'realized', reason: '', emulated: false });
  const down: DomainInfo = { name: 'pbsve-10', state: 'shutoff', persistent: true };
  t.equal(await keepVeAlive('10', { stateDir, clock, pollMs: 1, log: () => undefined, openVirt: () => Promise.resolve(buildVirtWithReason([down], 'shutdown')) }), 'guest-stopped');
  let now = 0;
  const stepping = { now: () => new Date(now), sleep: () => { now += 1000; return Promise.resolve(); } };
  const lines: string[] = [];
  const out = await keepVeAlive('10', { stateDir, clock: stepping, pollMs: 1, recoveryWaitMs: 5000, log: (l) => lines.push(l), openVirt: () => Promise.resolve(buildVirtWithReason(Array<DomainInfo>(20).fill(down), 'crashed')) });
  t.equal(out, 'guest-stopped');
  t.match(lines.join('\n'), /was not recovered within 5 s \(is ve-host-report running on node1\?\)/);
});

void t.test('a VE its owner stopped keeps its job: the body waits through the stop and ends only on a later poweroff', async (t) => {
  const stateDir = makeTempDir(join(tmpdir(), 'keep-'));
  const record = { jobId: '11', spec, owner: 'u', host: 'node1', domain: 'pbsve-11', uri: 'x', roUri: 'y', startCount: 1, status: 'realized' as const, reason: '', emulated: false };
  writeVeJobRecord(stateDir, { ...record, ownerState: 'stopped' });
  const running: DomainInfo = { name: 'pbsve-11', state: 'running', persistent: true };
  const down: DomainInfo = { ...running, state: 'shutoff' };
  const lines: string[] = [];
  // stopped by ve stop for 5 polls, ve start, then the guest powers itself off
  const answers = [down, down, down, down, down, running, down];
  const virt = buildVirtWithReason(answers, 'shutdown', (n) => {
    if (n === 5) writeVeJobRecord(stateDir, record);
  });
  t.equal(await keepVeAlive('11', { stateDir, clock, pollMs: 1, log: (l) => lines.push(l), openVirt: () => Promise.resolve(virt) }), 'guest-stopped');
  t.equal(answers.length, 0, 'waited through the owner\'s stop');
  t.match(lines.join('\n'), /is stopped by its owner; the job keeps it[\s\S]*runs again[\s\S]*is shutoff: the job ends/);
});
