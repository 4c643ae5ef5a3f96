import { createServer } from 'node:net';

/** How many ports a sandbox uses from its base: Slurm +0..+4 (slurmdbd +5), TORQUE MOMs +10..+15, slapd +50 (MariaDB +51). */
export const SANDBOX_PORT_SPAN = 60;
const SANDBOX_PORTS = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 50, 51];

// A port is free when this process can listen on it on loopback right now.
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => { resolve(false); });
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.close(() => { resolve(true); });
    });
  });
}

/** True when every port the sandbox would use from `base` is free now. */
export async function isPortBaseFree(base: number): Promise<boolean> {
  for (const offset of SANDBOX_PORTS) if (!(await isPortFree(base + offset))) return false;
  return true;
}

// Two sandboxes (or a sandbox and anything else) must never share a port: the second one used to report
// ready against the first one's slapd. Slots are tried in random order below the kernel's ephemeral range.
export async function findFreePortBase(first = 20000, slots = 150): Promise<number> {
  const order = Array.from({ length: slots }, (_, i) => i).sort(() => Math.random() - 0.5);
  for (const slot of order) {
    const base = first + slot * SANDBOX_PORT_SPAN;
    if (await isPortBaseFree(base)) return base;
  }
  throw new Error(`no free range of ${SANDBOX_PORT_SPAN} ports in ${first}-${first + slots * SANDBOX_PORT_SPAN}`);
}
