// Every text the console shows passes through here: names, notes and reasons come from users and hosts.
const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** markup the page builds itself; only html`` makes one, so a raw string can never pass as markup */
export class SafeHtml {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

// Text into element content and quoted attribute values alike (both quotes escaped).
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (ch) => ENTITIES[ch] ?? ch);
}

type Part = SafeHtml | string | number | boolean | undefined | null | readonly Part[];

function renderPart(part: Part): string {
  if (part === undefined || part === null || part === false) return '';
  if (part instanceof SafeHtml) return part.text;
  if (Array.isArray(part)) return (part as readonly Part[]).map(renderPart).join('');
  return escapeHtml(String(part));
}

// A template tag: the literal parts are the page's markup, every ${value} is escaped unless it is SafeHtml.
export function html(strings: TemplateStringsArray, ...values: readonly Part[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((v, i) => { out += renderPart(v) + (strings[i + 1] ?? ''); });
  return new SafeHtml(out);
}
