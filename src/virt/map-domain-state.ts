// libvirt reports virDomainState numbers; the port speaks names so callers never see libvirt enums.
import type { DomainState } from './virt.js';

const STATES: readonly DomainState[] = ['nostate', 'running', 'blocked', 'paused', 'shutdown', 'shutoff', 'crashed', 'pmsuspended'];

// A number from a newer libvirt we do not know is reported as nostate rather than guessed.
export function mapDomainState(state: number): DomainState {
  return STATES[state] ?? 'nostate';
}
