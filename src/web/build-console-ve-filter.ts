// The console's VE search as ldapts filter objects: names, owners and hosts travel as BER values, so
// "*)(objectClass=*" or "\2a" is text to match, never filter syntax.
import { AndFilter, EqualityFilter, NotFilter, OrFilter, SubstringFilter, type Filter } from 'ldapts';
import { VE_STATES, isFinalState } from '../core/ve-state.js';
import { VE_OBJECT_CLASS } from '../inventory/ve-entry.js';
import type { ConsoleQuery } from './parse-console-query.js';

const FINAL_STATES = VE_STATES.filter((s) => isFinalState(s));

// owner undefined: everybody's VEs (the caller decided the viewer may see them).
export function buildConsoleVeFilter(query: ConsoleQuery): Filter {
  const filters: Filter[] = [new EqualityFilter({ attribute: 'objectClass', value: VE_OBJECT_CLASS })];
  if (query.owner !== undefined) filters.push(new EqualityFilter({ attribute: 'pbsveOwner', value: query.owner }));
  if (query.state !== undefined) filters.push(new EqualityFilter({ attribute: 'pbsveState', value: query.state }));
  if (query.host !== undefined) filters.push(new EqualityFilter({ attribute: 'pbsveHost', value: query.host }));
  if (query.search !== undefined) filters.push(new SubstringFilter({ attribute: 'pbsveName', any: [query.search] }));
  if (!query.all) {
    filters.push(new NotFilter({ filter: new OrFilter({ filters: FINAL_STATES.map((s) => new EqualityFilter({ attribute: 'pbsveState', value: s })) }) }));
  }
  return new AndFilter({ filters });
}
