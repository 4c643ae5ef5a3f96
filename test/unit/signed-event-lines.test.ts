import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeVeEvent } from '../../src/events/encode-ve-event.js';
import { ensureHostKey, hostKeyPath, openHostKeyring, readHostKey } from '../../src/events/host-key.js';
import { signEventLine, verifyEventLine } from '../../src/events/sign-event-line.js';
import { buildMonitorScript } from '../../src/events/build-monitor-script.js';
import { readEventLines } from '../../src/ve-monitor/read-event-lines.js';
import { checkEventClaims } from '../../src/ve-monitor/check-event-claims.js';
import { describeEventOrigin, logRejectedEvents } from '../../src/ve-monitor/log-rejected-events.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeEvent } from '../../src/core/ve-event.js';
import type { BatchJob } from '../../src/batch/batch.js';

const event: VeEvent = {
  version: 1, jobId: '15', seq: 1_000_001, state: 'running', at: '2026-11-23T10:00:00.000Z', host: 'node1', owner: 'user1', name: 'web1',
  type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, domain: 'pbsve-15', source: 'prologue', reason: 'domain running',
};

const dir = mkdtempSync('/tmp/pbsve-keys-');
t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
ensureHostKey(dir, 'node1');
ensureHostKey(dir, 'node2');
const keyring = openHostKeyring(dir);
const key1 = readHostKey(dir, 'node1');
const key2 = readHostKey(dir, 'node2');

void t.test('host keys are 0600 in a 0700 directory, created once and never overwritten', (t) => {
  const file = hostKeyPath(dir, 'node1');
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'host-keys')).mode & 0o777, 0o700);
  const before = readFileSync(file, 'utf8');
  t.equal(ensureHostKey(dir, 'node1'), file);
  t.equal(readFileSync(file, 'utf8'), before, 'same key after a second ensureHostKey');
  t.equal(key1.length, 32);
  t.notSame(key1, key2, 'each host its own key');
  t.throws(() => hostKeyPath(dir, '../etc/passwd'), { code: 'invalid-host' });
  t.throws(() => hostKeyPath(dir, 'a..b'), { code: 'invalid-host' });
  t.throws(() => readHostKey(dir, 'node9'), { code: 'host-key-missing' });
  t.end();
});

void t.test('a key file others can read is refused', (t) => {
  const d = mkdtempSync('/tmp/pbsve-keys-');
  t.teardown(() => { rmSync(d, { recursive: true, force: true }); });
  const file = ensureHostKey(d, 'node3');
  chmodSync(file, 0o644);
  t.throws(() => readHostKey(d, 'node3'), { code: 'host-key-insecure' });
  chmodSync(file, 0o600);
  writeFileSync(file, 'short\n');
  t.throws(() => readHostKey(d, 'node3'), { code: 'host-key-invalid' });
  t.equal(openHostKeyring(d)('node3'), undefined, 'the keyring answers undefined, it does not throw');
  t.end();
});

void t.test('signed lines verify and stay within [A-Za-z0-9_.-]', (t) => {
  const payload = encodeVeEvent(event);
  const line = signEventLine(payload, 'node1', key1);
  t.match(line, /^[A-Za-z0-9_-]+\.node1\.[0-9a-f]{64}$/);
  t.same(verifyEventLine(line, keyring), { payload, host: 'node1' });
  const dotted = signEventLine(payload, 'node1.example.org', key1);
  t.same(verifyEventLine(dotted, () => key1), { payload, host: 'node1.example.org' }, 'host names with dots');
  const script = buildMonitorScript({ nodePath: '/usr/bin/node', installDir: '/opt/pbs-ve', configDir: '/etc/pbs-ve', encodedEvents: [line] });
  t.match(script, /<<'PBSVE_EVENTS'\n[A-Za-z0-9_.-]+\nPBSVE_EVENTS\n$/);
  t.throws(() => buildMonitorScript({ nodePath: '/usr/bin/node', installDir: '/opt', configDir: '/etc', encodedEvents: ['a b'] }), { code: 'invalid-event' });
  t.end();
});

void t.test('forged, unsigned, tampered, foreign-host and unknown-host lines are refused', (t) => {
  const payload = encodeVeEvent(event);
  const good = signEventLine(payload, 'node1', key1);
  const claimNode2 = encodeVeEvent({ ...event, host: 'node2' });
  const tampered = encodeVeEvent({ ...event, state: 'destroyed' });
  const cases: [string, string][] = [
    [payload, 'event-unsigned'],
    [`${payload}.node1.${'0'.repeat(64)}`, 'event-forged'],
    [`${tampered}.node1.${good.slice(good.lastIndexOf('.') + 1)}`, 'event-forged'],
    [signEventLine(claimNode2, 'node2', key1), 'event-forged'],
    [signEventLine(claimNode2, 'node1', key1), 'event-host-mismatch'],
    [signEventLine(payload, 'node7', key1), 'event-unknown-host'],
    [`${payload}.node1.XYZ`, 'event-malformed'],
    [`${payload}.no/de.${'0'.repeat(64)}`, 'event-malformed'],
  ];
  const results = readEventLines([good, ...cases.map((c) => c[0])].join('\n'), keyring);
  t.same(results[0], event, 'the genuine line decodes');
  cases.forEach(([, code], i) => {
    const r = results[i + 1];
    t.ok(r instanceof VeError, `case ${i} refused`);
    t.equal((r as VeError).code, code, `case ${i}: ${code}`);
  });
  t.end();
});

function job(patch: Partial<BatchJob>): BatchJob {
  return {
    jobId: '15', name: 've-web1', owner: 'user1', state: 'running', rawState: 'RUNNING', queue: 'batch', execHosts: ['node1'], variables: {},
    comment: undefined, resources: { cpus: 1, memoryMiB: 256, walltimeSeconds: 3600, nodeCount: 1, features: ['lxc'] }, startCount: 1,
    exitStatus: undefined, submitTime: undefined, startTime: undefined, ...patch,
  };
}

void t.test('claims the batch system contradicts are refused, unknown jobs pass', (t) => {
  const claims = (e: VeEvent, jobs: BatchJob[]): string | undefined => {
    const [r] = checkEventClaims([e], jobs);
    return r instanceof VeError ? r.code : undefined;
  };
  t.equal(claims(event, [job({})]), undefined, 'running on the host it claims');
  t.equal(claims(event, []), undefined, 'a job the batch system forgot proves nothing');
  t.equal(claims(event, [job({ execHosts: ['node2'] })]), 'event-claim-mismatch', 'running claimed on a host the job does not run on');
  t.equal(claims(event, [job({ owner: 'mallory' })]), 'event-claim-mismatch', 'owner differs');
  t.equal(claims({ ...event, state: 'destroyed' }, [job({ execHosts: ['node2'] })]), undefined, 'a teardown report from the old host is fine');
  t.equal(claims(event, [job({ execHosts: ['node2'], startCount: 2 })]), undefined, 'a late running event of an earlier run (requeue)');
  const passed = checkEventClaims([new VeError('event-forged', 'prereq', 'x'), event], [job({})]);
  t.ok(passed[0] instanceof VeError);
  t.same(passed[1], event);
  t.end();
});

void t.test('rejections land in <stateDir>/monitor/ve-monitor-rejected.log (the monitor account\'s own directory), hostile text made inert', (t) => {
  const d = mkdtempSync('/tmp/pbsve-rej-');
  t.teardown(() => { rmSync(d, { recursive: true, force: true }); });
  const origin = describeEventOrigin({ SLURM_JOB_ID: '42', SLURM_JOB_USER: 'pbsve-user1\n$(reboot)' });
  t.equal(origin, 'vemon-job=42 user=pbsve-user1???reboot? submit-host=-');
  const write = process.stderr.write.bind(process.stderr);
  let err = '';
  process.stderr.write = ((s: string) => { err += s; return true; });
  try {
    logRejectedEvents(d, [{ line: 1, code: 'event-forged', message: 'bad\nmac' }], ['abc def'], origin, new Date('2026-01-01T00:00:00Z'));
  } finally {
    process.stderr.write = write;
  }
  const log = readFileSync(join(d, 'monitor', 've-monitor-rejected.log'), 'utf8');
  t.equal(statSync(join(d, 'monitor', 've-monitor-rejected.log')).mode & 0o777, 0o600);
  t.equal(log, '2026-01-01T00:00:00.000Z vemon-job=42 user=pbsve-user1???reboot? submit-host=- line 1 event-forged: bad mac [abc?def...]\n');
  t.match(err, /^ve-monitor: rejected 2026/);
  t.end();
});
