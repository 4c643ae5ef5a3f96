import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VeError } from '../core/ve-error.js';
import type { VeSpec } from '../core/ve-spec.js';
import type { VeNic } from '../core/ve-nic.js';
import type { HostNetworkPlan } from '../prologue/plan-ve-networks.js';

/** What the prologue realized on this host, for the epilogue, the job body and the MOM hook. */
export interface VeJobRecord {
  readonly jobId: string;
  readonly spec: VeSpec;
  readonly owner: string;
  readonly host: string;
  readonly domain: string;
  readonly uri: string;
  /** read-only URI the job body (running as the owner) watches */
  readonly roUri: string;
  readonly startCount: number;
  /** realized: domain running; failed: the prologue could not start it; destroyed: the epilogue ran */
  readonly status: 'starting' | 'realized' | 'failed' | 'destroyed';
  readonly reason: string;
  readonly emulated: boolean;
  /** ISO time the prologue began realizing the VE (for start-up measurements) */
  readonly startedAt?: string;
  /** the VE's NICs (network, MAC, IP once the host report saw a lease) */
  readonly nics?: readonly VeNic[];
  /** the libvirt networks the prologue ensured, for the epilogue to release */
  readonly networks?: readonly HostNetworkPlan[];
}

export function findJobDir(stateDir: string, jobId: string): string {
  return join(stateDir, 'jobs', jobId);
}

// Written by root, readable by all: it holds no secret and the job body runs as the owner.
export function writeVeJobRecord(stateDir: string, record: VeJobRecord): void {
  const dir = findJobDir(stateDir, record.jobId);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const file = join(dir, 've.json');
  writeFileSync(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
}

// undefined = this host never realized a VE for the job: not a VE job, or not ours.
export function readVeJobRecord(stateDir: string, jobId: string): VeJobRecord | undefined {
  let raw: string;
  try {
    raw = readFileSync(join(findJobDir(stateDir, jobId), 've.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(raw) as VeJobRecord;
  } catch (err) {
    throw new VeError('corrupt-job-record', 'environment', `job ${jobId}: ve.json is not valid JSON`, { cause: err });
  }
}

// A refused VE job (bad spec) must still tell its owner why: the job body prints this and ends.
export function writeVeRefusal(stateDir: string, jobId: string, reason: string): void {
  const dir = findJobDir(stateDir, jobId);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'refused'), `${reason}\n`, { mode: 0o644 });
}

export function readVeRefusal(stateDir: string, jobId: string): string | undefined {
  try {
    return readFileSync(join(findJobDir(stateDir, jobId), 'refused'), 'utf8').trim();
  } catch {
    return undefined;
  }
}
