import t from 'tap';
import { decodeVeSpec, encodeVeSpec, findSpecToken, formatSpecLine } from '../../src/core/encode-ve-spec.js';
import { checkSpecFitsAllocation } from '../../src/core/check-spec-fits-allocation.js';
import { VeError } from '../../src/core/ve-error.js';
import type { VeSpec } from '../../src/core/ve-spec.js';

const spec: VeSpec = { version: 1, name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 7200 };

void t.test('the token survives TORQUE -v (no comma, quote or =) and decodes to the same spec', (t) => {
  const token = encodeVeSpec(spec);
  t.match(token, /^v1\.[A-Za-z0-9_-]+$/);
  t.same(decodeVeSpec(token), spec);
  t.end();
});

void t.test('data disks survive the token; tokens of the previous version (no disks key) still decode', (t) => {
  const withDisks: VeSpec = { ...spec, type: 'kvm', disks: [64, 10240], keepDisks: true };
  t.same(decodeVeSpec(encodeVeSpec(withDisks)), withDisks);
  const old = 'v1.' + Buffer.from(JSON.stringify({ name: 'web1', type: 'lxc', image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 7200 })).toString('base64url');
  t.same(decodeVeSpec(old), spec);
  t.equal(encodeVeSpec(spec), old, 'a spec without disks encodes exactly as before');
  for (const disks of [[-1], [0], ['999999T'], [1, 2, 3, 4, 5], 'x']) {
    const forged = 'v1.' + Buffer.from(JSON.stringify({ name: 'web1', type: 'kvm', image: 'tiny', vcpus: 1, memoryMiB: 256, leaseSeconds: 7200, disks })).toString('base64url');
    const err = t.throws(() => decodeVeSpec(forged)) as VeError;
    t.equal(err.field, 'disk', JSON.stringify(disks));
  }
  t.end();
});

void t.test('the spec line is found in a job script, and absent from non-VE scripts', (t) => {
  const script = `#!/bin/sh\n${formatSpecLine(spec)}\nexec sleep 1\n`;
  t.same(decodeVeSpec(findSpecToken(script) ?? ''), spec);
  t.equal(findSpecToken('#!/bin/sh\necho hello\n'), undefined);
  t.end();
});

void t.test('hostile tokens are refused with a prereq error', (t) => {
  const hostile = [
    'v1.' + Buffer.from(JSON.stringify({ ...spec, name: '<x/>' })).toString('base64url'),
    'v1.' + Buffer.from(JSON.stringify({ ...spec, image: '../../etc/shadow' })).toString('base64url'),
    'v1.' + Buffer.from('not json').toString('base64url'),
    'v1.$(reboot)',
    'v2.abc',
    'v1.' + 'A'.repeat(5000),
  ];
  for (const token of hostile) {
    const err = t.throws(() => decodeVeSpec(token)) as VeError;
    t.equal(err.kind, 'prereq', token.slice(0, 30));
  }
  t.end();
});

void t.test('a spec larger than the allocation is refused, naming every excess', (t) => {
  const alloc = { cpus: 1, memoryMiB: 128, walltimeSeconds: 3600, nodeCount: 1, features: ['kvm'] };
  const err = t.throws(() => { checkSpecFitsAllocation({ ...spec, vcpus: 2 }, alloc); }) as VeError;
  t.equal(err.code, 'spec-exceeds-allocation');
  t.match(err.message, /vcpus 2 > 1/);
  t.match(err.message, /memory 256 MiB > 128/);
  t.match(err.message, /lease 7200 s > walltime 3600/);
  t.match(err.message, /feature "lxc"/);
  t.doesNotThrow(() => { checkSpecFitsAllocation(spec, { cpus: 1, memoryMiB: 256, walltimeSeconds: 7200, nodeCount: 1, features: ['lxc'] }); });
  t.end();
});
