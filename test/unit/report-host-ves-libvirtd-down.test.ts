// The periodic host hook while libvirtd is down or just restarted: no false state change, and the
// journal is still flushed.
import { createFakeEventSink } from '../fakes/fake-event-sink.js';
import { createFakeVirt } from '../fakes/fake-virt.js';
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { reportHostVes } from '../../src/mom-hooks/report-host-ves.js';
import { writeVeJobRecord } from '../../src/host/ve-job-record.js';
import { parseConfig } from '../../src/config/load-config.js';
import { VeError } from '../../src/core/ve-error.js';
import { systemClock } from '../../src/core/clock.js';
import type { DomainInfo, Virt } from '../../src/virt/virt.js';
import type { EventSink } from '../../src/events/event-sink.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { BatchJob } from '../../src/batch/batch.js';

interface FakeLibvirt { up: boolean; domains: DomainInfo[]; reasons: Map<string, string> }

function buildVirt(libvirt: FakeLibvirt, uri: string): Promise<Virt> {
  if (!libvirt.up) return Promise.reject(new VeError('virt-unavailable', 'environment', `libvirt at ${uri} unavailable: Connection refused`));
  const unused = (): Promise<never> => Promise.reject(new Error('unused'));
  return Promise.resolve(createFakeVirt({
    uri, defineDomain: unused, startDomain: unused, getDomain: unused, destroyDomain: unused, shutdownDomain: unused, undefineDomain: unused, getDomainXml: unused, waitForState: unused,
    listDomains: () => Promise.resolve(libvirt.domains),
    getStateReason: (name: string) => Promise.resolve({ state: 'running' as const, reason: libvirt.reasons.get(name) ?? 'booted' }),
    close: () => Promise.resolve(),
  }));
}

function setup(t: { teardown: (fn: () => void) => void }): { libvirt: FakeLibvirt; emitted: VeEvent[]; flushes: { n: number }; logs: string[]; run: () => ReturnType<typeof reportHostVes>; stateDir: string } {
  const dir = mkdtempSync('/tmp/pbsve-report-');
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const stateDir = join(dir, 'state');
  const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir, installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  writeVeJobRecord(stateDir, {
    jobId: '31', spec: { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 }, owner: 'user1', host: 'node1',
    domain: 'pbsve-31', uri: 'lxc:///system', roUri: 'lxc:///system', startCount: 1, status: 'realized', reason: 'domain running', emulated: false,
  });
  const libvirt: FakeLibvirt = { up: true, domains: [{ name: 'pbsve-31', state: 'running', persistent: true }], reasons: new Map() };
  const emitted: VeEvent[] = [];
  const flushes = { n: 0 };
  const events: EventSink = createFakeEventSink({
    emit: (e) => { emitted.push(...e); return Promise.resolve({ sent: e.length, pending: 0 }); },
    flush: () => { flushes.n++; return Promise.resolve({ sent: 0, pending: 0 }); },
    record: (e) => { emitted.push(...e); return Promise.resolve({ sent: 0, pending: e.length }); },
  });
  const logs: string[] = [];
  const run = (): ReturnType<typeof reportHostVes> => reportHostVes('node1', { config, clock: systemClock, events, openVirt: (uri) => buildVirt(libvirt, uri), uris: ['lxc:///system', 'qemu:///system'], log: (l) => logs.push(l) });
  return { libvirt, emitted, flushes, logs, run, stateDir };
}

void t.test('libvirtd down: no change reported (not "domain disappeared"), journal still flushed, no throw', async (t) => {
  const { libvirt, emitted, flushes, logs, run } = setup(t);
  libvirt.up = false;
  const report = await run();
  t.same(report.changes, []);
  t.same(emitted, [], 'no "failed: domain disappeared behind pbs-ve"');
  t.equal(flushes.n, 1, 'pending events still go out');
  t.match(logs.join('\n'), /not answering .*no VE state judged this run/);
});

void t.test('after a libvirtd restart a paused VE shows "running (unknown)": not reported; a real resume is', async (t) => {
  const { libvirt, emitted, run, stateDir } = setup(t);
  libvirt.domains = [{ name: 'pbsve-31', state: 'paused', persistent: true }];
  await run();
  t.same(emitted.map((e) => e.state), ['suspended'], 'the pause is reported');
  // libvirtd restarted: the LXC driver says running, reason unknown, while the container is still frozen
  libvirt.domains = [{ name: 'pbsve-31', state: 'running', persistent: true }];
  libvirt.reasons.set('pbsve-31', 'unknown');
  const guessed = await run();
  t.same(guessed.changes, []);
  t.same(emitted.map((e) => e.state), ['suspended'], 'no false "running"');
  t.equal(readFileSync(join(stateDir, 'jobs/31/reported'), 'utf8').trim(), 'suspended', 'still the last state reported');
  libvirt.reasons.set('pbsve-31', 'unpaused');
  await run();
  t.same(emitted.map((e) => e.state), ['suspended', 'running'], 'the real resume is reported once');
});

void t.test('a changed state that is not "running" needs no reason: a vanished domain with libvirtd up is still reported', async (t) => {
  const { libvirt, emitted, run } = setup(t);
  libvirt.domains = [];
  await run();
  t.same(emitted.map((e) => [e.state, e.reason]), [['failed', 'domain disappeared behind pbs-ve']]);
});

void t.test('several changes in one run are journalled and then sent by one flush (one vemon job)', async (t) => {
  const { libvirt, emitted, flushes, run } = setup(t);
  libvirt.domains = [{ name: 'pbsve-31', state: 'paused', persistent: true }];
  await run();
  t.equal(emitted.length, 1);
  t.equal(flushes.n, 1, 'the one flush at the end, none per change');
});

void t.test('an epilogue that met a dead libvirtd: the teardown is finished once libvirtd answers and the job is gone', async (t) => {
  const { libvirt, logs, stateDir } = setup(t);
  const config = parseConfig({ batch: { kind: 'slurm' }, ldap: { url: 'ldap://127.0.0.1:1', baseDn: 'dc=x' }, virt: { hosts: {} }, stateDir, installDir: '/opt/pbs-ve', nodePath: '/usr/bin/node' });
  writeVeJobRecord(stateDir, {
    jobId: '31', spec: { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 64, leaseSeconds: 600 }, owner: 'user1', host: 'node1',
    domain: 'pbsve-31', uri: 'lxc:///system', roUri: 'lxc:///system', startCount: 1, status: 'stopping', reason: 'epilogue', emulated: false,
  });
  const torn: string[] = [];
  let jobState: 'running' | 'exiting' | 'completed' | undefined = 'exiting';
  const events: EventSink = createFakeEventSink({ emit: () => Promise.resolve({ sent: 0, pending: 0 }), flush: () => Promise.resolve({ sent: 0, pending: 0 }) });
  const run = (): ReturnType<typeof reportHostVes> => reportHostVes('node1', {
    config, clock: systemClock, events, openVirt: (uri) => buildVirt(libvirt, uri), uris: ['lxc:///system'], log: (l) => logs.push(l),
    interrupted: {
      batch: { getJob: (id) => Promise.resolve(jobState === undefined ? undefined : { jobId: id, state: jobState } as unknown as BatchJob) },
      teardown: (record) => { torn.push(record.jobId); libvirt.domains = []; return Promise.resolve(); },
    },
  });
  libvirt.up = false;
  t.same((await run()).teardowns, [], 'libvirtd still down: nothing judged');
  libvirt.up = true;
  t.same((await run()).teardowns, [], 'the job still exiting: its epilogue may be running');
  jobState = undefined;
  const report = await run();
  t.same(report.teardowns, ['31'], 'job gone: finished');
  t.same(torn, ['31']);
  t.same(report.orphans, [], 'the domain is gone, not an orphan');
});
