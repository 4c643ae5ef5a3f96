// xml2js is CommonJS and costs ~70 ms CPU to load (measured, docs/benchmarks.md); only TORQUE listings,
// domain XML and the console's domain lookup need it, so a `ve` on Slurm or a vemon job never pays for it.
import { createRequire } from 'node:module';
import type * as Xml2js from 'xml2js';

const require = createRequire(import.meta.url);
let loaded: typeof Xml2js | undefined;

// Loaded on first use and kept: every later call is a field read.
export function loadXml2js(): typeof Xml2js {
  loaded ??= require('xml2js') as typeof Xml2js;
  return loaded;
}
