import { VeError } from './ve-error.js';
import { validateVeName } from './validate-ve-spec.js';
import { validateSshPublicKeys } from './validate-ssh-public-key.js';

/** The two files of a cloud-init NoCloud seed (the volume labelled "cidata"). */
export interface CloudInitSeed {
  /** instance-id and local-hostname */
  readonly metaData: string;
  /** "#cloud-config" followed by JSON (JSON is YAML, and JSON.stringify quotes every user string) */
  readonly userData: string;
}

export interface CloudInitSeedInput {
  /** the domain name: a new VE (job) is a new instance, so cloud-init runs its first-boot modules again */
  readonly instanceId: string;
  readonly hostname: string;
  readonly sshKeys: readonly string[];
}

const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

// Runs as root on values from a job: everything is re-validated, and nothing reaches YAML unquoted
// (a VE named "true" or "123" would otherwise become a boolean or a number to cloud-init).
export function buildCloudInitSeed(input: CloudInitSeedInput): CloudInitSeed {
  if (!INSTANCE_ID.test(input.instanceId)) {
    throw new VeError('invalid-seed', 'prereq', `seed instance-id: must be a domain name (got ${JSON.stringify(input.instanceId)})`, { field: 'instance-id' });
  }
  const hostname = validateVeName(input.hostname, 'name');
  const sshKeys = validateSshPublicKeys(input.sshKeys);
  const metaData = `instance-id: ${JSON.stringify(input.instanceId)}\nlocal-hostname: ${JSON.stringify(hostname)}\n`;
  const config = {
    hostname,
    ...(sshKeys.length === 0 ? {} : { ssh_authorized_keys: sshKeys }),
  };
  return { metaData, userData: `#cloud-config\n${JSON.stringify(config, null, 2)}\n` };
}
