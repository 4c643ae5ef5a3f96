// `qstat -f -x` is the one TORQUE output with stable structure; it becomes the Batch port's BatchJob.
import { explainTorqueWaitReason } from './explain-wait-reason.js';
import type { BatchJob, JobState } from './batch.js';
import { buildTorqueJobResources } from './parse-torque-resources.js';
import { isTorqueJobId } from './torque-job-id.js';
import { parseTorqueXml, readXmlGroup, readXmlRecords, readXmlText, torqueParseError, type TorqueXmlElement } from './parse-torque-xml.js';
import { VeError } from '../core/ve-error.js';

const WHAT = 'qstat -f -x output';

const STATES: Readonly<Record<string, JobState>> = {
  Q: 'queued',
  W: 'queued',
  H: 'held',
  R: 'running',
  E: 'exiting',
  C: 'completed',
};

// Job lists come from the server for every user; one bad record must say which job it was.
// slotsPerCpu: TORQUE slots per pbs-ve cpu (docs/design.md, "Capacity")
export function parseQstatXml(xml: string, slotsPerCpu = 1): BatchJob[] {
  const root = parseTorqueXml(xml, WHAT);
  if (root === undefined) return [];
  return readXmlRecords(root, 'Job', WHAT).map((job, index) => {
    const id = readXmlText(job, 'Job_Id', WHAT);
    try {
      return readJob(job, id, slotsPerCpu);
    } catch (err) {
      if (err instanceof VeError && err.code === 'torque-parse') {
        throw torqueParseError(`${WHAT}, job ${JSON.stringify(id ?? `#${index + 1}`)}`, err.message, err);
      }
      throw err;
    }
  });
}

// Every attribute below is written by the server but may carry user text: parse, never evaluate.
function readJob(job: TorqueXmlElement, jobId: string | undefined, slotsPerCpu: number): BatchJob {
  if (jobId === undefined || !isTorqueJobId(jobId)) throw torqueParseError('Job_Id', `not a TORQUE job id (got ${JSON.stringify(jobId)})`);
  const text = (name: string): string | undefined => readXmlText(job, name, name);
  const rawState = text('job_state') ?? '';
  const owner = text('Job_Owner') ?? '';
  const exitStatus = text('exit_status');
  const exit = exitStatus === undefined ? undefined : readInteger(exitStatus, 'exit_status');
  return {
    jobId,
    name: text('Job_Name') ?? '',
    owner: owner.includes('@') ? owner.slice(0, owner.indexOf('@')) : owner,
    state: STATES[rawState] ?? 'other',
    rawState,
    queue: text('queue') ?? '',
    execHosts: parseExecHosts(text('exec_host')),
    variables: parseVariableList(text('Variable_List') ?? ''),
    comment: text('comment'),
    resources: buildTorqueJobResources(readXmlGroup(job, 'Resource_List', 'job'), slotsPerCpu),
    startCount: readCount(text('start_count'), 'start_count') ?? 0,
    exitStatus: exit,
    // 271 = killed by SIGTERM after qdel (fixtures); -11 = JOB_EXEC_OVERLIMIT_WT, the MOM's walltime kill (TORQUE 6.1 source)
    ...(exit === 271 ? { endCause: 'cancelled' as const } : exit === -11 ? { endCause: 'lease-expired' as const } : {}),
    submitTime: readCount(text('ctime'), 'ctime'),
    startTime: readCount(text('start_time'), 'start_time'),
    ...(text('interactive') === 'True' ? { interactive: true } : {}),
    ...(rawState === 'Q' || rawState === 'H' || rawState === 'W' ? { waitReason: explainTorqueWaitReason(text('comment'), text('Hold_Types')) } : {}),
  };
}

// exec_host is vm/0+vm/1, vm/0-1 or vm/0,2+runsc/0; the first host is the mother superior.
export function parseExecHosts(execHost: string | undefined): string[] {
  if (execHost === undefined || execHost.trim() === '') return [];
  const hosts: string[] = [];
  for (const slot of execHost.split('+')) {
    const host = slot.split('/')[0] ?? '';
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/.test(host)) {
      throw torqueParseError('exec_host', `bad host in ${JSON.stringify(execHost)}`);
    }
    if (!hosts.includes(host)) hosts.push(host);
  }
  return hosts;
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Variable_List is comma-separated K=V: a value cannot hold a comma (qsub -v splits there), so pieces
// without '=' are fragments of a mangled value and names that are no environment names are dropped.
export function parseVariableList(text: string): Record<string, string> {
  const entries: [string, string][] = [];
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 1) continue;
    const name = item.slice(0, eq);
    if (!VARIABLE_NAME.test(name)) continue;
    entries.push([name, item.slice(eq + 1)]);
  }
  return Object.fromEntries(entries);
}

// Counters and epoch times are plain digits in the XML (the text form would give locale dates).
function readCount(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(value)) throw torqueParseError(name, `not a whole number (got ${JSON.stringify(value)})`);
  return Number(value);
}

// exit_status may be negative (-2 after a prologue abort), so it has its own reader.
function readInteger(value: string, name: string): number {
  if (!/^-?[0-9]{1,10}$/.test(value)) throw torqueParseError(name, `not an integer (got ${JSON.stringify(value)})`);
  return Number(value);
}
