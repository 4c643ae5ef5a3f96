// The VE list's filters as the browser sends them (?owner=&state=&host=&q=&all=1): hostile until checked.
import { invalidField } from '../core/ve-error.js';
import { isFinalState, isVeState, type VeState } from '../core/ve-state.js';

export interface ConsoleQuery {
  /** whose VEs; undefined: everybody's (admins only, decided by the caller) */
  readonly owner?: string;
  readonly state?: VeState;
  readonly host?: string;
  /** part of a VE name, any text: it travels as an LDAP substring value, never as filter syntax */
  readonly search?: string;
  /** include destroyed/lost/failed VEs */
  readonly all: boolean;
}

const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;
const MAX_SEARCH = 64;
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL_CHARACTER = /[\x00-\x1f\x7f]/;

// Query strings may repeat a key (?q=a&q=b): only a single plain string is a value.
function single(raw: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const v = raw[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalidField(key, 'must be given once');
  return v;
}

// Unknown keys are ignored (browsers add their own); known ones must be what they say.
export function parseConsoleQuery(raw: Readonly<Record<string, unknown>>): ConsoleQuery {
  const owner = single(raw, 'owner');
  if (owner !== undefined && !USER_NAME.test(owner)) throw invalidField('owner', 'must be a user name (letters, digits, "_", ".", "-")', owner);
  const state = single(raw, 'state');
  if (state !== undefined && !isVeState(state)) throw invalidField('state', 'must be a VE state (running, pending, stopped ...)', state);
  const host = single(raw, 'host');
  if (host !== undefined && !HOST_NAME.test(host)) throw invalidField('host', 'must be a host name (letters, digits, ".", "-")', host);
  const search = single(raw, 'q');
  if (search !== undefined && (search.length > MAX_SEARCH || CONTROL_CHARACTER.test(search))) {
    throw invalidField('q', `must be at most ${MAX_SEARCH} printable characters`, search.slice(0, MAX_SEARCH + 1));
  }
  const all = single(raw, 'all');
  if (all !== undefined && all !== '1') throw invalidField('all', 'must be 1 or absent', all);
  return {
    ...(owner === undefined ? {} : { owner }),
    ...(state === undefined ? {} : { state }),
    ...(host === undefined ? {} : { host }),
    ...(search === undefined ? {} : { search }),
    // asking for a final state (destroyed, lost, failed) is asking for history
    all: all === '1' || (state !== undefined && isFinalState(state)),
  };
}
