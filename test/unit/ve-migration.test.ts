// ve migrate's pure parts: the op's arguments, the state table, the manifest a destination acts on (only one
// naming its job and itself), the UUID kept for a live migration, the destination picked without --to, the config.
import t from 'tap';
import { validateVeOperation, decodeVeOperation, encodeVeOperation } from '../../src/operations/encode-ve-operation.js';
import { checkVeTransition } from '../../src/operations/ve-transitions.js';
import { addDomainUuid, buildPeerUri, checkMoveManifest } from '../../src/host/ve-migration.js';
import { pickMigrationHost } from '../../src/operations/submit-ve-operation.js';
import { parseConfig } from '../../src/config/load-config.js';
import { createFakeBatch } from '../fakes/fake-batch.js';
import { VeError } from '../../src/core/ve-error.js';
import { findDrainStoppedJobs } from '../../src/operations/stop-host-ves.js';

const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';

void t.test('migrate takes a destination host and --live, nothing else; hostile host names are refused', (t) => {
  const op = validateVeOperation({ kind: 'migrate', target: '17', to: 'node2', live: true });
  t.same(op, { kind: 'migrate', target: '17', to: 'node2', live: true });
  t.same(decodeVeOperation(encodeVeOperation(op)), op, 'round trip through the script token');
  for (const to of ['node2;reboot', '-c', 'node 2', '', '../x', 'a'.repeat(70), 7]) {
    t.throws(() => validateVeOperation({ kind: 'migrate', target: '17', to }), /to: must be one host name/, `refused: ${String(to)}`);
  }
  t.throws(() => validateVeOperation({ kind: 'migrate', target: '17' }), /to:/, 'the host side always gets a destination');
  t.throws(() => validateVeOperation({ kind: 'stop', target: '17', to: 'node2' }), /not an argument of stop/);
  t.throws(() => validateVeOperation({ kind: 'migrate', target: '17', to: 'node2', live: 'yes' }), /live: must be true or false/);
  t.end();
});

void t.test('the state table: running or stopped VEs move; they are migrating until the destination runs them', (t) => {
  t.equal(checkVeTransition('migrate', 'running', 'web1'), 'migrating');
  t.equal(checkVeTransition('migrate', 'stopped', 'web1'), 'migrating');
  for (const state of ['suspended', 'migrating', 'pending', 'destroyed'] as const) {
    t.throws(() => checkVeTransition('migrate', state, 'web1'), /migrate needs it running or stopped/, state);
  }
  t.end();
});

void t.test('a destination acts only on a manifest of its own job naming itself', (t) => {
  const good = { v: 1, jobId: '17', domain: 'pbsve-17', type: 'kvm', from: 'node1', to: 'node2', live: true, at: '2026-12-02T00:00:00Z', snapshotXmls: [], uuid: UUID };
  t.equal(checkMoveManifest(good, '17', 'node2').from, 'node1');
  t.throws(() => checkMoveManifest(good, '18', 'node2'), /does not name this job and host/, 'another job');
  t.throws(() => checkMoveManifest(good, '17', 'node3'), /does not name this job and host/, 'another destination');
  t.throws(() => checkMoveManifest({ ...good, uuid: "x'/><evil/>" }, '17', 'node2'), /does not name/, 'a UUID that is not one');
  t.throws(() => checkMoveManifest({ ...good, v: 2 }, '17', 'node2'), /does not name/);
  t.throws(() => checkMoveManifest(null, '17', 'node2'), /does not name/);
  t.end();
});

void t.test('a live migration keeps the source UUID in the destination XML, after the name', (t) => {
  t.equal(addDomainUuid('<domain type="qemu"><name>pbsve-17</name><memory/></domain>', UUID), `<domain type="qemu"><name>pbsve-17</name><uuid>${UUID}</uuid><memory/></domain>`);
  t.throws(() => addDomainUuid('<domain><name>x</name></domain>', 'not-a-uuid'), /not a UUID/);
  t.throws(() => addDomainUuid(`<domain><name>x</name><uuid>${UUID}</uuid></domain>`, UUID), /UUID already/);
  t.end();
});

void t.test('peer URIs name the other host through %h; the config refuses templates without it', (t) => {
  const migration = { peerLxcUri: 'lxc+tls://%h/system', peerQemuUri: 'qemu+tls://%h/system', address: '%h' };
  t.equal(buildPeerUri(migration, 'kvm', 'node2'), 'qemu+tls://node2/system');
  t.equal(buildPeerUri(migration, 'lxc', 'node2'), 'lxc+tls://node2/system');
  const base = { batch: { kind: 'slurm' }, ldap: { url: 'ldap://x', baseDn: 'dc=x' }, virt: { hosts: {} } };
  t.same(parseConfig({ ...base, virt: { hosts: {}, migration } }).virt.migration, migration);
  t.equal(parseConfig(base).virt.migration, undefined, 'absent: migration refused by the host');
  t.throws(() => parseConfig({ ...base, virt: { hosts: {}, migration: { ...migration, peerQemuUri: 'qemu+tls://node2/system' } } }), /virt\.migration\.peerQemuUri: must name the other host as "%h"/);
  t.equal(parseConfig({ ...base, batch: { kind: 'slurm', opQueue: 'veop' } }).batch.opQueue, 'veop');
  t.end();
});

void t.test('without --to: an up host with the VE type and the most free cpus, never the source', async (t) => {
  const batch = createFakeBatch({});
  const node = (name: string, state: 'free' | 'busy' | 'offline' | 'down', features: string[], jobIds: string[]) => ({ name, state, rawState: state, cpus: 2, memoryMiB: 1000, features, jobIds, note: undefined });
  batch.nodes.set('node1', node('node1', 'free', ['lxc', 'kvm'], []));
  batch.nodes.set('node2', node('node2', 'free', ['lxc', 'kvm'], ['4']));
  batch.nodes.set('node3', node('node3', 'offline', ['lxc', 'kvm'], []));
  batch.nodes.set('node4', node('node4', 'free', ['kvm'], []));
  batch.nodes.set('mon1', node('mon1', 'free', ['vemon'], []));
  const ve = { name: 'web1', type: 'lxc', vcpus: 1 };
  t.equal(await pickMigrationHost(batch, ve, 'node1'), 'node2', 'the source and offline or featureless hosts are skipped');
  t.equal(await pickMigrationHost(batch, ve, 'node3'), 'node1', 'the freest host');
  const none = await pickMigrationHost(batch, { ...ve, vcpus: 8 }, 'node1').catch((e: unknown) => e);
  t.ok(none instanceof VeError && none.code === 'no-migration-host', 'no host fits: refused with the reason');
});

void t.test('a drain with --migrate leaves nothing for the resume to start', (t) => {
  t.same(findDrainStoppedJobs('pbs-ve drain: maintenance (by root)'), []);
  t.end();
});
