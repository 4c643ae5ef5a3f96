import type { AttributeChange, LdapAttributes } from '../src/inventory/attribute-change.js';

// LDIF values that are not "SAFE-STRING" (RFC 2849) go base64 so the raw tool gets exactly our bytes.
function formatValue(type: string, value: string): string {
  return /^[\x21-\x39\x3b\x3d-\x7e][\x20-\x7e]*$/.test(value) && !value.endsWith(' ') ? `${type}: ${value}` : `${type}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

/** One add record, the same attributes our adapter sends. */
export function buildAddLdif(dn: string, attributes: LdapAttributes): string {
  const lines = [`dn: ${dn}`, 'changetype: add'];
  for (const [type, values] of Object.entries(attributes)) for (const v of values) lines.push(formatValue(type, v));
  return `${lines.join('\n')}\n\n`;
}

/** One modify record with the same operations our compare-and-swap update sends. */
export function buildModifyLdif(dn: string, changes: readonly AttributeChange[]): string {
  const lines = [`dn: ${dn}`, 'changetype: modify'];
  for (const c of changes) {
    lines.push(`${c.operation}: ${c.type}`);
    for (const v of c.values) lines.push(formatValue(c.type, v));
    lines.push('-');
  }
  return `${lines.join('\n')}\n\n`;
}
