import type { ParserOptions } from 'xml2js';
import { loadXml2js } from './load-xml2js.js';

export type XmlParse = { readonly ok: true; readonly document: unknown } | { readonly ok: false; readonly failure: unknown };

// xml2js parses synchronously when async is off; its callback is only the API's shape. Errors come back as data.
export function parseXmlSync(xml: string, options: ParserOptions): XmlParse {
  let document: unknown;
  let failure: unknown;
  try {
    new (loadXml2js().Parser)({ ...options, async: false }).parseString(xml, (err: Error | null, parsed: unknown) => {
      if (err !== null) failure = err;
      else document = parsed;
    });
  } catch (err) {
    failure = err;
  }
  return failure === undefined ? { ok: true, document } : { ok: false, failure };
}
