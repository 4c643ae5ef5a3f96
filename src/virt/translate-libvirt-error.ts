// @unraid/libvirt rejects with the libvirt message only (code/domain are always -1), so the
// message text is all there is to classify; this is the one place that knows those texts.
import { VeError } from '../core/ve-error.js';

export type LibvirtFailure = 'no-domain' | 'not-running' | 'unavailable' | 'other';

const NO_DOMAIN = /^Domain not found\b/;
const NOT_RUNNING = /\bdomain is not running\b|\bdomain '[^']*' not running\b/;
const UNAVAILABLE =
  /Failed to connect socket|Cannot recv data|Cannot write data|End of file while reading data|client socket is closed|no connection driver available|Broken pipe|Connection reset by peer|Connection refused|invalid connection pointer|not connected|Unable to connect/i;

// The libvirt message without the binding's wrapping, for logs and VeError messages.
export function readLibvirtMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : 'unknown libvirt failure';
}

// Callers branch on the port's documented cases (absent, already stopped) and nothing else.
export function classifyLibvirtError(err: unknown): LibvirtFailure {
  const message = readLibvirtMessage(err);
  if (NO_DOMAIN.test(message)) return 'no-domain';
  if (NOT_RUNNING.test(message)) return 'not-running';
  if (UNAVAILABLE.test(message)) return 'unavailable';
  return 'other';
}

// What leaves the adapter: a dead daemon is an environment fault, the rest a failed action.
export function translateLibvirtError(err: unknown, uri: string, action: string): VeError {
  if (err instanceof VeError) return err;
  const message = readLibvirtMessage(err);
  const details = { uri, action, libvirtMessage: message };
  if (classifyLibvirtError(err) === 'unavailable') {
    return new VeError('virt-unavailable', 'environment', `libvirt at ${uri} unavailable (${action}): ${message}`, { cause: err, details });
  }
  return new VeError('virt-failed', 'exec', `libvirt ${action} failed: ${message}`, { cause: err, details });
}
