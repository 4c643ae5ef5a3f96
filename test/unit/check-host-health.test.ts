import { createFakeVirt } from '../fakes/fake-virt.js';
import t from 'tap';
import { checkHostHealth, formatHostHealth, settleWithin, type HealthCheckPorts, type HealthCheckRequest } from '../../src/mom-hooks/check-host-health.js';
import { parseMemAvailableMiB } from '../../src/mom-hooks/read-host-resources.js';
import { VeError } from '../../src/core/ve-error.js';
import type { DomainInfo, Virt } from '../../src/virt/virt.js';

const LXC = 'lxc:///system?socket=/run/a';
const QEMU = 'qemu:///system?socket=/run/a';
const request: HealthCheckRequest = { uris: [LXC, QEMU], imageDir: '/images', stateDir: '/state', floors: { minDiskMiB: 1024, minMemoryMiB: 256 }, checkTimeoutMs: 200 };

function fakeVirt(uri: string, domains: DomainInfo[], closed: string[]): Virt {
  const no = (): Promise<never> => Promise.reject(new Error('not in the health check'));
  return createFakeVirt({
    uri, defineDomain: no, startDomain: no, getDomain: no, destroyDomain: no, shutdownDomain: no, undefineDomain: no, getDomainXml: no, waitForState: no,
    listDomains: () => Promise.resolve(domains),
    close: () => { closed.push(uri); return Promise.resolve(); },
  });
}

function ports(over: Partial<HealthCheckPorts> = {}, closed: string[] = []): HealthCheckPorts {
  return {
    openVirt: (uri) => Promise.resolve(fakeVirt(uri, uri.startsWith('lxc')
      ? [{ name: 'pbsve-15.vm', state: 'running', persistent: true }, { name: 'site-vm', state: 'running', persistent: true }]
      : [{ name: 'pbsve-16.vm', state: 'crashed', persistent: true }], closed)),
    isDirectory: () => Promise.resolve(true),
    freeDiskMiB: () => Promise.resolve(5000),
    availableMemoryMiB: () => Promise.resolve(900),
    ...over,
  };
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

void t.test('healthy: OK line with what was measured, pbs-ve domains only, connections closed', async (t) => {
  const closed: string[] = [];
  const h = await checkHostHealth(request, ports({}, closed));
  t.equal(h.healthy, true);
  t.equal(h.unanswered, 0);
  t.equal(formatHostHealth(h, { host: 'node1', report: false }), 'OK node1: libvirtd answers on 2 URIs, image store /images present, 5000 MiB disk free, 900 MiB memory available\n');
  t.equal(formatHostHealth(h, { host: 'node1', report: true }), [
    'OK node1: libvirtd answers on 2 URIs, image store /images present, 5000 MiB disk free, 900 MiB memory available',
    'VE pbsve-15.vm running lxc', 'VE pbsve-16.vm crashed qemu', 'VES 2', ''].join('\n'));
  t.same(closed.sort(), [LXC, QEMU]);
});

void t.test('each problem has its ERROR line', async (t) => {
  const cases: [string, Partial<HealthCheckPorts>, string][] = [
    ['libvirtd down', { openVirt: (uri) => Promise.reject(new VeError('virt-unavailable', 'environment', `cannot connect to ${uri}: Connection refused`)) },
      `ERROR libvirtd not answering on ${LXC}: cannot connect to ${LXC}: Connection refused; libvirtd not answering on ${QEMU}: cannot connect to ${QEMU}: Connection refused\n`],
    ['image store missing', { isDirectory: () => Promise.resolve(false) }, 'ERROR image store /images missing\n'],
    ['disk low', { freeDiskMiB: () => Promise.resolve(1023) }, 'ERROR free disk on /state 1023 MiB below 1024 MiB\n'],
    ['memory low', { availableMemoryMiB: () => Promise.resolve(100) }, 'ERROR available memory 100 MiB below 256 MiB\n'],
    ['statfs fails', { freeDiskMiB: () => Promise.reject(new VeError('host-statfs-failed', 'environment', 'statfs /state: ENOENT')) }, 'ERROR free disk on /state not checkable: statfs /state: ENOENT\n'],
    ['two at once', { isDirectory: () => Promise.resolve(false), availableMemoryMiB: () => Promise.resolve(1) }, 'ERROR image store /images missing; available memory 1 MiB below 256 MiB\n'],
  ];
  for (const [name, over, line] of cases) {
    const h = await checkHostHealth(request, ports(over));
    t.equal(h.healthy, false, name);
    t.equal(formatHostHealth(h, { host: 'node1', report: false }), line, name);
  }
});

void t.test('a check that never answers becomes ERROR within its own limit, the others still report', async (t) => {
  const t0 = Date.now();
  const h = await checkHostHealth(request, ports({ openVirt: (uri) => uri.startsWith('qemu') ? never() : ports().openVirt(uri), availableMemoryMiB: never }));
  const ms = Date.now() - t0;
  t.ok(ms < request.checkTimeoutMs + 150, `answered after ${ms} ms (limit ${request.checkTimeoutMs} ms)`);
  t.equal(h.unanswered, 2, 'the entry point must not wait for those threads on exit');
  t.equal(formatHostHealth(h, { host: 'n', report: true }), [
    `ERROR libvirtd not answering on ${QEMU}: no answer within 200 ms; available memory not checkable: no answer within 200 ms`,
    'VE pbsve-15.vm running lxc', 'VES 1', ''].join('\n'));
});

void t.test('a listDomains that hangs after connecting still closes the connection when it is late', async (t) => {
  const closed: string[] = [];
  let release: (d: DomainInfo[]) => void = () => undefined;
  const slow: HealthCheckPorts = ports({ openVirt: (uri) => Promise.resolve({ ...fakeVirt(uri, [], closed), listDomains: () => new Promise<DomainInfo[]>((r) => { release = r; }) }) }, closed);
  const h = await checkHostHealth({ ...request, uris: [LXC] }, slow);
  t.match(h.problems[0], /no answer within 200 ms/);
  release([]);
  await new Promise((r) => setImmediate(r));
  t.same(closed, [LXC]);
});

void t.test('the ERROR line stays one line and short enough for the MOM buffer', async (t) => {
  const h = await checkHostHealth(request, ports({ openVirt: () => Promise.reject(new Error(`line one\nline two ${'x'.repeat(2000)}`)) }));
  const out = formatHostHealth(h, { host: 'n', report: false });
  t.equal(out.split('\n').length, 2);
  t.ok(out.length <= 901);
  t.ok(out.startsWith('ERROR libvirtd not answering on lxc:///system?socket=/run/a: line one line two'));
});

void t.test('settleWithin and MemAvailable parsing', async (t) => {
  t.same(await settleWithin(() => Promise.resolve(3), 50), { ok: true, value: 3 });
  t.same(await settleWithin(() => Promise.reject(new Error('boom')), 50), { ok: false, reason: 'boom' });
  t.same(await settleWithin(never, 20), { ok: false, reason: 'no answer within 20 ms', timedOut: true });
  t.equal(parseMemAvailableMiB('MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    2097152 kB\n'), 2048);
  t.throws(() => parseMemAvailableMiB('MemTotal: 1 kB\n'), { code: 'host-meminfo-unreadable' });
});

void t.test('a host that runs no VEs (no virt.hosts entry) checks only disk and memory', async (t) => {
  const h = await checkHostHealth({ ...request, uris: [], imageDir: undefined }, ports({ openVirt: () => Promise.reject(new Error('must not connect')), isDirectory: () => Promise.reject(new Error('must not look')) }));
  t.equal(formatHostHealth(h, { host: 'mon1', report: false }), 'OK mon1: no VE host (no virt.hosts entry), 5000 MiB disk free, 900 MiB memory available\n');
});
