// Where each kind of inventory entry lives in the DIT (see schema/pbs-ve.ldif).
import { escapeDnValue } from './escape-dn-value.js';
import { validateJobId } from './validate-job-id.js';
import { validatePart } from '../core/build-domain-name.js';

export const VES_RDN = 'ou=ves';
export const HOSTS_RDN = 'ou=hosts';
export const IMAGES_RDN = 'ou=images';

// One helper per container so callers never glue DN strings themselves.
export function buildVesDn(baseDn: string): string {
  return `${VES_RDN},${baseDn}`;
}

// The VE entry is named by its job id, the one key every component knows.
export function buildVeDn(baseDn: string, jobId: string): string {
  return `pbsveJobId=${escapeDnValue(validateJobId(jobId))},${buildVesDn(baseDn)}`;
}

// History records are children of their VE so one subtree holds a VE's whole story.
export function buildHistoryDn(baseDn: string, jobId: string, seq: number): string {
  return `pbsveSeq=${String(seq)},${buildVeDn(baseDn, jobId)}`;
}

// A multi-node VE's parts are children of the VE, named by their index.
export function buildPartDn(baseDn: string, jobId: string, part: number): string {
  return `pbsvePart=${String(validatePart(part))},${buildVeDn(baseDn, jobId)}`;
}

// A part's history lives under the part: each part counts its own seqs, so they would collide under the VE.
export function buildPartHistoryDn(baseDn: string, jobId: string, part: number, seq: number): string {
  return `pbsveSeq=${String(seq)},${buildPartDn(baseDn, jobId, part)}`;
}

// Hosts are named by host name; the value is escaped because host names come from batch output.
export function buildHostDn(baseDn: string, hostName: string): string {
  return `pbsveHostName=${escapeDnValue(hostName)},${HOSTS_RDN},${baseDn}`;
}

// Images are named by catalog name; escaped because names come from operators and users.
export function buildImageDn(baseDn: string, imageName: string): string {
  return `pbsveImageName=${escapeDnValue(imageName)},${IMAGES_RDN},${baseDn}`;
}
