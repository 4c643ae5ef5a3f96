// RFC 4514 escaping of one RDN value, so hostile names can never add RDNs or change the DN's shape.

const ALWAYS_ESCAPED = new Set(['"', '+', ',', ';', '<', '>', '\\', '=']);

// A value becomes one RDN value only if every special character is escaped; ldapts's own escaper
// quotes values with outer spaces (LDAPv2 style), which RFC 4514 parsers may reject.
export function escapeDnValue(value: string): string {
  let out = '';
  const chars = Array.from(value); // code points: escaping works on whole characters
  chars.forEach((ch, index) => {
    const code = ch.codePointAt(0) ?? 0;
    const first = index === 0;
    const last = index === chars.length - 1;
    if (code < 0x20 || code === 0x7f) {
      out += `\\${code.toString(16).padStart(2, '0')}`;
    } else if (ALWAYS_ESCAPED.has(ch) || (first && (ch === '#' || ch === ' ')) || (last && ch === ' ')) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  });
  return out;
}
