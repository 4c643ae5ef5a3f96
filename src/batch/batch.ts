// The Batch port: the small part of a batch system pbs-ve needs, same for TORQUE and Slurm.

export type JobState = 'queued' | 'held' | 'running' | 'exiting' | 'completed' | 'other';

export interface JobResources {
  /** cpus allocated to the whole job (TORQUE ppn x nodes, Slurm NumCPUs) */
  readonly cpus: number;
  /** memory limit in MiB per node (the adapters convert: TORQUE's mem is the job's total, Slurm's --mem per node); undefined when none */
  readonly memoryMiB: number | undefined;
  /** walltime limit in seconds, undefined when unlimited */
  readonly walltimeSeconds: number | undefined;
  readonly nodeCount: number;
  /** node features / properties requested (kvm, lxc, vemon ...) */
  readonly features: readonly string[];
}

export interface BatchJob {
  readonly jobId: string;
  readonly name: string;
  /** user name without @host */
  readonly owner: string;
  readonly state: JobState;
  /** the batch system's own state word (R, Q, PENDING ...), for display */
  readonly rawState: string;
  readonly queue: string;
  /** hosts the job runs on, mother superior first; empty when not running */
  readonly execHosts: readonly string[];
  /** job environment variables given at submit time (Variable_List / --export) */
  readonly variables: Readonly<Record<string, string>>;
  /** the job comment (TORQUE comment, Slurm Comment); Slurm submit puts the encoded VE spec here */
  readonly comment: string | undefined;
  readonly resources: JobResources;
  /** how many times the job has been started (TORQUE start_count, Slurm Restarts + 1) */
  readonly startCount: number;
  readonly exitStatus: number | undefined;
  /** why the job ended, when the batch system says it: Slurm CANCELLED / TIMEOUT, TORQUE exit 271 (qdel) / -11 (walltime) */
  readonly endCause?: 'cancelled' | 'lease-expired';
  /** seconds since the epoch */
  readonly submitTime: number | undefined;
  readonly startTime: number | undefined;
  /** why a queued or held job waits, as the batch system says it (Slurm Reason, TORQUE scheduler comment /
   *  Hold_Types), explained; absent when the job does not wait */
  readonly waitReason?: string;
  /** an interactive job (TORQUE qsub -I: ve ssh's relay), which has no job script on its host */
  readonly interactive?: boolean;
}

export type NodeState = 'free' | 'busy' | 'offline' | 'down' | 'unknown';

export interface BatchNode {
  readonly name: string;
  readonly state: NodeState;
  readonly rawState: string;
  readonly cpus: number;
  readonly memoryMiB: number | undefined;
  readonly features: readonly string[];
  readonly jobIds: readonly string[];
  readonly note: string | undefined;
}

/**
 * One job to submit. Sizes are PER NODE, the same for every node of the job: cpus and memoryMiB are
 * what each of nodeCount nodes must offer (Slurm --cpus-per-task/--mem with one task per node; TORQUE
 * nodes=N:ppn=cpus and mem=N x memoryMiB, its mem being the job's total). With nodeCount 1 per node
 * and total are the same thing.
 */
export interface SubmitRequest {
  readonly name: string;
  readonly queue: string;
  /** cpus on each node; 0 = none of its own: an operation on a VE that already holds its cpus (Slurm: one
   *  cpu of the op partition's room; TORQUE: the one slot a host keeps for operations) */
  readonly cpus: number;
  /** memory on each node, MiB */
  readonly memoryMiB: number | undefined;
  readonly walltimeSeconds: number | undefined;
  readonly features: readonly string[];
  readonly nodeCount: number;
  /** values must match /^[A-Za-z0-9_.:\/@+-]*$/: no commas, quotes or '=' (TORQUE -v splits on commas) */
  readonly variables: Readonly<Record<string, string>>;
  /** the job script, starting with #! */
  readonly script: string;
  /** where stdout/stderr go; defaults to the batch system's */
  readonly outputPath?: string;
  readonly workdir?: string;
  /** absolute path of the shell that runs the script. TORQUE otherwise starts it through the owner's
   *  login shell (qsub -S), and a service account without one cannot run jobs; Slurm runs the
   *  script's #! line itself and ignores this */
  readonly shell?: string;
  /** Slurm --comment; ignored by TORQUE (owners cannot set it there) */
  readonly comment?: string;
  /** root only: submit as this user, so the job is theirs (an admin's operation on a user's VE, authorized
   *  as the VE's owner; TORQUE refuses root's own jobs). Ignored when the caller is not root */
  readonly submitAs?: string;
  /** run on exactly these hosts (one per node of nodeCount): Slurm --nodelist, TORQUE nodes=<host> */
  readonly nodeList?: readonly string[];
  /** submit with a user hold (Slurm --hold, TORQUE -h): the job waits until released or cancelled */
  readonly hold?: boolean;
  /** false: the script names every path itself and needs nothing of its owner's login environment (a vemon
   *  job), and has no variables. Slurm then runs it with sbatch's own minimal environment (--export=ALL of
   *  PATH, LANG, SLURM_CONF) instead of having slurmd load the owner's login environment at launch (su -
   *  <owner>; Slurm 22.05 kills su after reading it and, unless su is reaped at once, sleeps 1 s: measured
   *  1.2 s of most vemon job launches). TORQUE loads none either way. Default true */
  readonly loginEnvironment?: boolean;
}

/**
 * A process the job's owner runs beside a running job, on one of its hosts, with the batch system's word that
 * the job is theirs (ve ssh's relay). Like an op job it takes no cpu of its own (TORQUE: the host's operation slot).
 */
export interface AttachRequest {
  readonly jobId: string;
  readonly host: string;
  /** where a batch system that needs a job of its own for this puts it (TORQUE: the op queue) */
  readonly queue: string;
  readonly name: string;
  readonly memoryMiB: number;
  readonly walltimeSeconds: number;
  /** the command on the host; each word of [A-Za-z0-9_./+=,:%@-] (a shell may read them on the host) */
  readonly command: readonly string[];
}

export interface AttachCommand {
  /** run on the submit host as the owner: its stdin/stdout are the command's on the job's host */
  readonly argv: readonly string[];
  /**
   * true: the command's stdin/stdout on the host are a terminal the batch system relays (TORQUE qsub -I), so
   * the caller must put it in raw mode there and keep the batch system's own escapes out of the bytes
   * (src/host/relay-terminal-framing.ts); false: plain pipes (Slurm srun)
   */
  readonly terminal: boolean;
}

export interface Batch {
  submit(request: SubmitRequest): Promise<string>;
  /** undefined when the batch system no longer knows the job */
  getJob(jobId: string): Promise<BatchJob | undefined>;
  listJobs(filter?: { readonly queue?: string; readonly owner?: string }): Promise<BatchJob[]>;
  cancel(jobId: string): Promise<void>;
  listNodes(): Promise<BatchNode[]>;
  /** no new job goes to the node (Slurm DRAIN with the note as Reason, TORQUE pbsnodes -o -N note); its jobs keep running */
  setNodeOffline(node: string, note: string): Promise<void>;
  /** the node takes jobs again and its note is cleared (Slurm RESUME, TORQUE pbsnodes -c -N n) */
  setNodeOnline(node: string): Promise<void>;
  /**
   * Put a running job back in the queue. hostDown: its host is dead and fenced (recovery), so the host's
   * batch daemon cannot agree; TORQUE then forces it (`qrerun -f`: a plain qrerun is "Rejected by mom").
   */
  requeue(jobId: string, options?: { readonly hostDown?: boolean }): Promise<void>;
  /**
   * ve migrate: put a running job back in the queue to run next on exactly this host, its other resources
   * unchanged. Held while it is requeued and re-pinned, so the scheduler never starts it elsewhere meanwhile
   * (Slurm requeuehold + NodeList + release; TORQUE qhold -h o + qrerun + qalter -l nodes + qrls). Root or an operator.
   */
  moveJob(jobId: string, host: string): Promise<void>;
  /**
   * Set a job's time limit (ve extend). Owners cannot raise their own limit on either system: Slurm needs
   * root or an operator, TORQUE a manager or operator (qalter -l walltime on a running job).
   */
  setTimeLimit(jobId: string, seconds: number): Promise<void>;
  /** the job script as submitted (root only on Slurm); undefined when the batch system cannot tell */
  readJobScript(jobId: string): Promise<string | undefined>;
  /** how the owner runs a command beside their running job on one of its hosts (Slurm a step, TORQUE an interactive job) */
  buildAttachCommand(request: AttachRequest): AttachCommand;
}

/** What a prologue/epilogue is told by the batch system about the job it runs for. */
export interface PelogContext {
  readonly jobId: string;
  readonly user: string;
  readonly group: string | undefined;
  readonly jobName: string | undefined;
  readonly queue: string | undefined;
  /** this host, as the batch system names it */
  readonly host: string;
  /** the job's script file, where the batch system passes it (TORQUE 6.1 $8) */
  readonly scriptPath: string | undefined;
  /** epilogue only */
  readonly exitStatus: number | undefined;
  /** resource limits as the pelog saw them, when passed on the command line */
  readonly resources: Partial<JobResources> | undefined;
  /** true for sister hosts of a multi-node job (prologue.parallel) */
  readonly sister: boolean;
  /** the job's hosts in allocation order as the hook's trusted context names them (Slurm SLURM_JOB_NODELIST); absent: ask the batch system */
  readonly jobHosts?: readonly string[];
  /** epilogue: the walltime the job used as this host's batch daemon counted it (TORQUE $7), when passed */
  readonly usedWalltimeSeconds?: number;
}
