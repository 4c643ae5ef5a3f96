import t from 'tap';
import { decodeVeEvent, encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { buildMonitorScript } from '../../src/events/build-monitor-script.js';
import { buildDomainName, parseDomainName, validateJobId } from '../../src/core/build-domain-name.js';
import { decideExitCode } from '../../src/core/decide-exit-code.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeEvent } from '../../src/core/ve-event.js';

const event: VeEvent = {
  version: 1, jobId: '15.vm', seq: 1_000_001, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node2', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, domain: 'pbsve-15.vm', source: 'prologue', reason: 'domain running',
};

void t.test('events round-trip as one base64url line', (t) => {
  const line = encodeVeEvent(event);
  t.match(line, /^[A-Za-z0-9_-]+$/);
  t.same(decodeVeEvent(line), event);
  const member: VeEvent = { ...event, cluster: { name: 'lab', role: 'compute' } };
  t.same(decodeVeEvent(encodeVeEvent(member)), member, 'a cluster member\'s cluster and role travel along');
  t.end();
});

void t.test('forged or damaged events name the bad field', (t) => {
  const forge = (patch: Record<string, unknown>): string => Buffer.from(JSON.stringify({ ...event, ...patch })).toString('base64url');
  const cases: [string, string][] = [
    [forge({ jobId: '17;rm -rf /' }), 'jobId'], [forge({ owner: '*)(uid=*' }), 'owner'], [forge({ state: 'pending' }), 'state'],
    [forge({ name: '<x>' }), 'name'], [forge({ seq: -1 }), 'seq'], [forge({ version: 2 }), 'version'], ['not base64!', 'encoding'],
    [forge({ cluster: { name: 'lab)(uid=*', role: 'head' } }), 'cluster'], [forge({ cluster: 'lab' }), 'cluster'], [forge({ cluster: { name: 'lab', role: 'Head Node' } }), 'cluster'],
  ];
  for (const [line, field] of cases) {
    const err = t.throws(() => decodeVeEvent(line)) as VeError;
    t.equal(err.field, field);
  }
  t.end();
});

void t.test('the monitor script carries events in a quoted heredoc and refuses unsafe paths', (t) => {
  const script = buildMonitorScript({ nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', configDir: '/etc/pbs-ve', encodedEvents: [encodeVeEvent(event)] });
  t.match(script, /<<'PBSVE_EVENTS'\n[A-Za-z0-9_-]+\nPBSVE_EVENTS\n$/);
  t.throws(() => buildMonitorScript({ nodePath: '/usr/bin/node; reboot', installDir: '/opt', configDir: '/etc', encodedEvents: [] }));
  t.end();
});

void t.test('domains are named after the job and map back', (t) => {
  t.equal(buildDomainName('17'), 'pbsve-17');
  t.equal(buildDomainName('15.vm'), 'pbsve-15.vm');
  t.equal(parseDomainName('pbsve-15.vm'), '15.vm');
  t.equal(parseDomainName('pbsve-12_3_'), '12[3]');
  t.equal(parseDomainName('other'), undefined);
  t.throws(() => validateJobId('17 --help'));
  t.throws(() => validateJobId('-1'));
  t.end();
});

void t.test('exit codes follow the TORQUE and Slurm tables', (t) => {
  const prereq = new VeError('x', 'prereq', 'bad spec');
  const env = new VeError('x', 'environment', 'libvirtd down');
  t.equal(decideExitCode(prereq, 'torque-prologue'), 1, 'bad spec aborts the TORQUE job, never retried');
  t.equal(decideExitCode(env, 'torque-prologue'), 2, 'host fault requeues');
  t.equal(decideExitCode(prereq, 'slurm-prolog'), 0, 'Slurm: a bad spec must not drain the node');
  t.equal(decideExitCode(env, 'slurm-prolog'), 1);
  t.equal(decideExitCode(prereq, 'cli'), 2);
  t.equal(decideExitCode(env, 'cli'), 3);
  t.equal(decideExitCode(prereq, 'torque-epilogue'), 0);
  t.end();
});
