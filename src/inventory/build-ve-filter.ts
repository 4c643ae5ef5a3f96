// VeQuery -> LDAP filter, built from ldapts Filter objects: user strings travel as BER values and
// are never parsed as filter syntax, so "*)(objectClass=*" is just an odd name that matches nothing.
import { AndFilter, EqualityFilter, NotFilter, OrFilter, type Filter } from 'ldapts';
import { VE_STATES, isFinalState } from '../core/ve-state.js';
import type { VeQuery } from './inventory.js';
import { VE_OBJECT_CLASS } from './ve-entry.js';

const FINAL_STATES = VE_STATES.filter((s) => isFinalState(s));

// includeFinal defaults to false: listings show live VEs unless history is asked for.
export function buildVeFilter(query: VeQuery = {}): Filter {
  const filters: Filter[] = [new EqualityFilter({ attribute: 'objectClass', value: VE_OBJECT_CLASS })];
  if (query.owner !== undefined) filters.push(new EqualityFilter({ attribute: 'pbsveOwner', value: query.owner }));
  if (query.name !== undefined) filters.push(new EqualityFilter({ attribute: 'pbsveName', value: query.name }));
  if (query.host !== undefined) filters.push(new EqualityFilter({ attribute: 'pbsveHost', value: query.host }));
  if (query.includeFinal !== true) {
    const final = FINAL_STATES.map((state) => new EqualityFilter({ attribute: 'pbsveState', value: state }));
    filters.push(new NotFilter({ filter: new OrFilter({ filters: final }) }));
  }
  return new AndFilter({ filters });
}
