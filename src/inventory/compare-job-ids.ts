// Job ids sort by their number first (9 before 10), then by the rest (array index, server).

const LEADING_NUMBER = /^[0-9]+/;

// Listings are read by people: numeric order matches submission order.
export function compareJobIds(a: string, b: string): number {
  const na = LEADING_NUMBER.exec(a)?.[0] ?? '';
  const nb = LEADING_NUMBER.exec(b)?.[0] ?? '';
  if (na.length !== nb.length) return na.length - nb.length;
  if (na !== nb) return na < nb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
