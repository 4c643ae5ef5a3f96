// The pbs-ve <metadata> child is found by namespace URI, whatever prefix libvirt re-serializes it with.
import { parseXmlSync } from '../core/parse-xml-sync.js';
import { VeError } from '../core/ve-error.js';
import { DOMAIN_METADATA_NAMESPACE, type DomainMetadata } from './domain-spec.js';

interface NsElement {
  readonly $ns?: { readonly local: string; readonly uri: string };
  readonly _?: string;
  readonly [child: string]: unknown;
}

// xml2js with xmlns: every element carries $ns, text sits in '_' (explicitCharkey).
function parseDomainXml(xml: string): NsElement {
  const parsed = parseXmlSync(xml, { strict: true, explicitArray: true, explicitCharkey: true, xmlns: true, includeWhiteChars: true });
  const result = parsed.ok ? parsed.document : undefined;
  const failure = parsed.ok ? undefined : parsed.failure;
  const root = (result as { domain?: NsElement } | undefined)?.domain;
  if (failure !== undefined || root === undefined) {
    throw new VeError('invalid-domain-xml', 'exec', 'domain XML is not a <domain> document', { cause: failure });
  }
  return root;
}

// Children of one element in document order, without xml2js's attribute/namespace/text keys.
function listChildren(element: NsElement): NsElement[] {
  return Object.entries(element)
    .filter(([key]) => key !== '$' && key !== '$ns' && key !== '_')
    .flatMap(([, value]) => (Array.isArray(value) ? (value as unknown[]) : []))
    .filter((child): child is NsElement => typeof child === 'object' && child !== null);
}

// Reconcile and teardown map a domain back to its job from this; undefined when not a pbs-ve domain.
export function readDomainMetadata(xml: string): DomainMetadata | undefined {
  const domain = parseDomainXml(xml);
  const metadata = listChildren(domain).find((child) => child.$ns?.local === 'metadata' && child.$ns.uri === '');
  if (metadata === undefined) return undefined;
  const ve = listChildren(metadata).find((child) => child.$ns?.uri === DOMAIN_METADATA_NAMESPACE && child.$ns.local === 've');
  if (ve === undefined) return undefined;
  const fields = new Map<string, string>();
  for (const child of listChildren(ve)) {
    if (child.$ns?.uri === DOMAIN_METADATA_NAMESPACE) fields.set(child.$ns.local, child._ ?? '');
  }
  const jobId = fields.get('jobId');
  const owner = fields.get('owner');
  const veName = fields.get('veName');
  if (jobId === undefined || owner === undefined || veName === undefined) return undefined;
  return { jobId, owner, veName };
}
