// The reasons `ve show` gives for a pending VE, from the batch systems' own words.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { explainSlurmWaitReason, explainTorqueWaitReason } from '../../src/batch/explain-wait-reason.js';
import { parseSlurmJobsJson } from '../../src/batch/parse-slurm-jobs-json.js';

void t.test('Slurm Reasons', (t) => {
  t.equal(explainSlurmWaitReason('None'), undefined);
  t.equal(explainSlurmWaitReason(''), undefined);
  t.match(explainSlurmWaitReason('Resources'), /enough free cpus or memory.*\(Slurm: Resources\)/);
  t.match(explainSlurmWaitReason('PartitionDown'), /VE queue is stopped/);
  t.match(explainSlurmWaitReason('ReqNodeNotAvail, UnavailableNodes:node1'), /drained, offline or down \(Slurm: ReqNodeNotAvail, UnavailableNodes:node1\)/);
  t.match(explainSlurmWaitReason('QOSMaxJobsPerUserLimit'), /the most VEs one user may run at once \(Slurm QOS limit QOSMaxJobsPerUserLimit\); it starts when one of your VEs ends/);
  t.match(explainSlurmWaitReason('JobHeldUser'), /held by its owner/);
  t.equal(explainSlurmWaitReason('SomethingNew'), 'Slurm: SomethingNew', 'unknown words are passed on');
  t.end();
});

void t.test('TORQUE comment and Hold_Types', (t) => {
  t.match(explainTorqueWaitReason(undefined, 'n'), /scheduler has not looked at it yet/);
  t.match(explainTorqueWaitReason('Not Running: Not enough of the right type of nodes are available', 'n'), /enough free cpus or memory now \(TORQUE: Not Running/);
  t.match(explainTorqueWaitReason(undefined, 'uo'), /held by its owner, an operator/);
  t.equal(explainTorqueWaitReason('Not Running: something else', undefined), 'TORQUE: Not Running: something else');
  t.end();
});

void t.test('a pending job of the recorded squeue output carries its reason; a running one none', (t) => {
  const jobs = parseSlurmJobsJson(readFileSync('test/fixtures/slurm/squeue.json', 'utf8'));
  const pending = jobs.filter((j) => j.state === 'queued');
  t.ok(pending.length > 0);
  for (const j of pending) t.type(j.waitReason, 'string', `job ${j.jobId}`);
  for (const j of jobs.filter((x) => x.state === 'running')) t.equal(j.waitReason, undefined);
  t.end();
});
