// TORQUE clients speak XML with -x; xml2js is wrapped here so parse failures become one VeError.
import { parseXmlSync } from '../core/parse-xml-sync.js';
import { torqueParseError } from './torque-parse-error.js';

/** an xml2js element with explicitArray: every child is a list of strings or elements */
export interface TorqueXmlElement {
  readonly [child: string]: readonly (string | TorqueXmlElement)[] | undefined;
}

export { torqueParseError };

// TORQUE's -x output as plain objects; malformed XML is one torque-parse error naming the command.
export function parseTorqueXml(xml: string, what: string): TorqueXmlElement | undefined {
  if (xml.trim() === '') return undefined;
  const parsed = parseXmlSync(xml, { explicitArray: true, strict: true, explicitRoot: true });
  if (!parsed.ok) {
    const reason = parsed.failure instanceof Error ? parsed.failure.message.split('\n')[0] ?? '' : 'unknown parser failure';
    throw torqueParseError(what, `not well-formed XML (${reason})`, parsed.failure);
  }
  const result = parsed.document;
  if (typeof result !== 'object' || result === null) throw torqueParseError(what, 'no XML document');
  const root = (result as Record<string, unknown>).Data;
  if (root === '') return {};
  if (typeof root !== 'object' || root === null) {
    throw torqueParseError(what, 'the XML root element is not <Data>');
  }
  return root as TorqueXmlElement;
}

// Elements the adapter reads must be single text values; anything else is a sign of garbage.
export function readXmlText(element: TorqueXmlElement, name: string, what: string): string | undefined {
  const values = element[name];
  if (values === undefined) return undefined;
  const first = values[0];
  if (values.length !== 1 || typeof first !== 'string') {
    throw torqueParseError(what, `<${name}> is not a single text value`);
  }
  return first;
}

// Nested groups (Resource_List, resources_used) become flat key -> text maps.
export function readXmlGroup(element: TorqueXmlElement, name: string, what: string): Record<string, string> {
  const values = element[name];
  if (values === undefined) return {};
  const group = values[0];
  if (values.length !== 1 || group === undefined) throw torqueParseError(what, `<${name}> appears more than once`);
  if (group === '') return {};
  if (typeof group === 'string') throw torqueParseError(what, `<${name}> holds text instead of elements`);
  const entries: [string, string][] = [];
  for (const key of Object.keys(group)) {
    if (key === '$' || key === '_') continue;
    const text = readXmlText(group, key, `${what} <${name}>`);
    if (text !== undefined) entries.push([key, text]);
  }
  return Object.fromEntries(entries);
}

// The repeated top-level records (<Job>, <Node>) of a <Data> document.
export function readXmlRecords(root: TorqueXmlElement, name: string, what: string): TorqueXmlElement[] {
  const values = root[name] ?? [];
  return values.map((value, index) => {
    if (value === '') return {};
    if (typeof value === 'string') throw torqueParseError(what, `<${name}> number ${index + 1} holds text instead of elements`);
    return value;
  });
}
