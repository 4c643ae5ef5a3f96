import { invalidField } from './ve-error.js';
import { VE_NAME_PATTERN } from './validate-ve-spec.js';
import { JOB_ID_PATTERN } from './build-domain-name.js';

// show/destroy/console/operations name a VE by name or job id: a typo is refused before any service is asked.
export function validateVeReference(value: string, field = 'name'): string {
  if (!VE_NAME_PATTERN.test(value) && !JOB_ID_PATTERN.test(value)) {
    throw invalidField(field, 'must be a VE name (1-63 letters, digits or inner hyphens) or a job id', value.slice(0, 80));
  }
  return value;
}
