// virsh fills the few gaps of the native binding; its failures read like the binding's messages.
import { runCommand } from '../core/run-command.js';

export interface VirshOutcome {
  readonly ok: boolean;
  readonly stdout: string;
  /** libvirt's message without virsh's "error: " prefixes, for classifyLibvirtError */
  readonly message: string;
}

const VIRSH_TIMEOUT_MS = 30_000;

// "--" ends option parsing so a domain name can never be read as a virsh option.
export async function runVirsh(uri: string, command: string, options: readonly string[], operands: readonly string[]): Promise<VirshOutcome> {
  const result = await runCommand('virsh', ['-q', '-c', uri, command, ...options, '--', ...operands], { timeoutMs: VIRSH_TIMEOUT_MS });
  const message = result.stderr
    .split('\n')
    .map((line) => line.replace(/^error: /, '').trim())
    // virsh words a failed lookup its own way; say it as libvirt does so it classifies alike
    .map((line) => (/^failed to get domain /.test(line) ? `Domain not found: ${line}` : line))
    .filter((line) => line !== '' && line !== 'failed to connect to the hypervisor')
    .join('; ');
  return { ok: result.exitCode === 0, stdout: result.stdout, message: message === '' ? `virsh ${command} exited ${result.exitCode}` : message };
}
