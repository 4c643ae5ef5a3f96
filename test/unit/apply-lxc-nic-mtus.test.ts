import t from 'tap';
import { applyLxcNicMtus, parseGuestLinks, readInterfaceMtus } from '../../src/virt/apply-lxc-nic-mtus.js';
import type { CommandOptions, CommandResult } from '../../src/core/run-command.js';

const DOMAIN_XML = `<domain type='lxc'><name>pbsve-1</name><devices>
  <interface type='network'><mac address='52:54:00:AA:00:01'/><source network='pbsve-default'/></interface>
  <interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='vb1'/><mtu size='1450'/></interface>
  <interface type='bridge'><source bridge='vb2'/><mtu size='1450'/></interface>
</devices></domain>`;

const IP_LINK = [
  '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00',
  '12: eth0@if13: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:aa:00:01 brd ff:ff:ff:ff:ff:ff link-netnsid 0',
  '14: eth1@if15: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:aa:00:02 brd ff:ff:ff:ff:ff:ff link-netnsid 0',
  '',
].join('\n');

void t.test('readInterfaceMtus: only NICs with both a MAC and an <mtu>, MACs lower-cased', (t) => {
  t.same(readInterfaceMtus(DOMAIN_XML), [{ mac: '52:54:00:aa:00:02', mtu: 1450 }]);
  t.same(readInterfaceMtus('<domain><devices/></domain>'), []);
  t.throws(() => readInterfaceMtus('<network/>'), { code: 'invalid-domain-xml' });
  t.throws(() => readInterfaceMtus('<domain><devices>'), { code: 'invalid-domain-xml' });
  t.end();
});

void t.test('parseGuestLinks: name without the @peer suffix, MTU and MAC of each ether link', (t) => {
  t.same(parseGuestLinks(IP_LINK), [
    { name: 'eth0', mtu: 1500, mac: '52:54:00:aa:00:01' },
    { name: 'eth1', mtu: 1500, mac: '52:54:00:aa:00:02' },
  ]);
  t.end();
});

function recordingRun(listing: string, setExitCode = 0): { calls: string[][]; run: (file: string, args: readonly string[], options?: CommandOptions) => Promise<CommandResult> } {
  const calls: string[][] = [];
  return {
    calls,
    run: (file, args) => {
      calls.push([file, ...args]);
      return Promise.resolve(args.includes('show') ? { stdout: listing, stderr: '', exitCode: 0 } : { stdout: '', stderr: setExitCode === 0 ? '' : 'Cannot find device', exitCode: setExitCode });
    },
  };
}

void t.test('applyLxcNicMtus: sets the NIC found by MAC, in the init\'s network namespace, as an argument array', async (t) => {
  const { calls, run } = recordingRun(IP_LINK);
  await applyLxcNicMtus(4242, [{ mac: '52:54:00:aa:00:02', mtu: 1450 }], run, 'pbsve-1');
  t.same(calls, [
    ['nsenter', '--net=/proc/4242/ns/net', '--', 'ip', '-o', 'link', 'show'],
    ['nsenter', '--net=/proc/4242/ns/net', '--', 'ip', 'link', 'set', 'dev', 'eth1', 'mtu', '1450'],
  ]);
});

void t.test('applyLxcNicMtus: nothing to do without NICs, or when the MTU is already right', async (t) => {
  const none = recordingRun(IP_LINK);
  await applyLxcNicMtus(4242, [], none.run, 'pbsve-1');
  t.same(none.calls, []);
  const right = recordingRun(IP_LINK.replace('mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:aa:00:02', 'mtu 1450 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 52:54:00:aa:00:02'));
  await applyLxcNicMtus(4242, [{ mac: '52:54:00:aa:00:02', mtu: 1450 }], right.run, 'pbsve-1');
  t.equal(right.calls.length, 1, 'only the listing');
});

void t.test('applyLxcNicMtus: a NIC that never shows up, or a set that keeps failing, is an error naming the domain', async (t) => {
  const missing = recordingRun(IP_LINK);
  await t.rejects(applyLxcNicMtus(4242, [{ mac: '52:54:00:aa:00:09', mtu: 1450 }], missing.run, 'pbsve-1'), { code: 'virt-failed', message: /pbsve-1.*no NIC with MAC 52:54:00:aa:00:09/ });
  const failing = recordingRun(IP_LINK, 1);
  await t.rejects(applyLxcNicMtus(4242, [{ mac: '52:54:00:aa:00:02', mtu: 1450 }], failing.run, 'pbsve-1'), { code: 'virt-failed', message: /Cannot find device/ });
});

void t.test('applyLxcNicMtus: a link name that is not a plain name is refused, never passed on', async (t) => {
  const { calls, run } = recordingRun(IP_LINK.replace('14: eth1@if15', '14: e$(x);1@if15'));
  await t.rejects(applyLxcNicMtus(4242, [{ mac: '52:54:00:aa:00:02', mtu: 1450 }], run, 'pbsve-1'), { code: 'virt-failed', message: /unexpected link name/ });
  t.notOk(calls.some((c) => c.includes('set')), 'no ip link set was run');
});
