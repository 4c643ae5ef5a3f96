// The health hook as the batch system runs it (Slurm HealthCheckProgram, TORQUE $node_check_script in the
// MOM's mom_priv/config, installed by `ve admin install mom --node-check`): a host whose libvirtd dies is
// taken out of scheduling with the reason, gets no new VE, and comes back by itself once libvirtd answers.
// backends: slurm torque
import t from 'tap';
import { existsSync } from 'node:fs';
import type { SandboxInfo } from '../../src/sandbox/sandbox.js';
import { DEMO_USER, runVeAs, waitForLdapState } from '../../src/sandbox/run-demo.js';
import { killSandboxLibvirtd, startSandboxLibvirtd } from '../harness/sandbox-daemons.js';
import { waitFor } from '../harness/wait-for.js';
import { useSandbox } from '../harness/use-sandbox.js';
import { openBatchControl, type BatchControl } from '../harness/batch-control.js';

const { dir } = useSandbox(t, {
  prefix: '/tmp/pbsve-health-', healthCheck: true,
  ready: (started) => {
    info = started;
    control = openBatchControl(started);
  },
  beforeStop: async () => {
    if (libvirtdKilled) await startSandboxLibvirtd(dir, 'node2').catch((err: unknown) => { console.error(String(err)); });
  },
});
let info: SandboxInfo;
let control: BatchControl;
let libvirtdKilled = false;
const user = existsSync(`/home/${DEMO_USER}`) ? DEMO_USER : undefined;

async function node(name: string): Promise<{ state: string; rawState: string; note: string }> {
  const n = (await control.listNodes()).find((x) => x.name === name);
  return { state: n?.state ?? 'missing', rawState: n?.rawState ?? '', note: n?.note ?? '' };
}

void t.test('a host whose libvirtd is gone is taken out with the reason, and back once it answers', async (t) => {
  await waitFor('every node usable', 120_000, async () => ((await control.listUnavailableNodes()).length === 0 ? true : undefined), 500);
  const t0 = Date.now();
  libvirtdKilled = true;
  t.ok(await killSandboxLibvirtd(dir, 'node2'), 'node2\'s libvirtd killed');
  const out = await waitFor('node2 taken out by the health check', 180_000, async () => {
    const n = await node('node2');
    return (n.state === 'offline' || n.state === 'down') && /libvirt/i.test(n.note) ? n : undefined;
  }, 500);
  t.comment(`libvirtd killed -> node2 out of scheduling: ${Date.now() - t0} ms (${out.rawState}: ${out.note})`);
  t.equal((await node('node1')).state === 'offline' || (await node('node1')).state === 'down', false, 'node1 stays in');

  // a VE created now goes to the healthy host
  const created = await runVeAs(info, user, ['create', 'hc1', '--type', 'lxc', '--image', 'tiny', '--memory', '64', '--lease', '1h']);
  t.equal(created.exitCode, 0, created.stderr);
  await waitForLdapState(info, user, 'hc1', 'running', 120_000);
  const shown = JSON.parse((await runVeAs(info, user, ['show', 'hc1', '--json'])).stdout) as { ve: { host: string } };
  t.equal(shown.ve.host, 'node1', 'placed on the healthy host');

  const t1 = Date.now();
  await startSandboxLibvirtd(dir, 'node2');
  libvirtdKilled = false;
  await waitFor('node2 back in scheduling', 180_000, async () => {
    const n = await node('node2');
    return n.state === 'free' || n.state === 'busy' ? true : undefined;
  }, 500);
  t.comment(`libvirtd back -> node2 in scheduling again: ${Date.now() - t1} ms`);
  const d = await runVeAs(info, user, ['destroy', 'hc1', '--wait', '90s']);
  t.equal(d.exitCode, 0, d.stderr);
});
