#!/bin/sh
# The body of every VE job (docs/design.md "The job body and the host watcher"). It runs as the VE's owner
# and only waits: ve-host-watch (root, one per host) decides when the VE has ended, writes the answer file
# and wakes this shell through the job directory's FIFO. While it waits it is one blocked read, no timer.
# PBS_VE_STATE_DIR: the host's state directory ("%h" = this host), set by the job script ve create wrote.
job=${SLURM_JOB_ID:-${PBS_JOBID:-}}
case $job in
  '' | .* | *[!A-Za-z0-9.[\]_-]*) echo "pbs-ve: the job body runs only inside a batch job (SLURM_JOB_ID or PBS_JOBID)" >&2; exit 1 ;;
esac
state=${PBS_VE_STATE_DIR:-/var/lib/pbs-ve}
case $state in
  *%h*)
    host=${SLURMD_NODENAME:-$(uname -n)}
    host=${host%%.*}
    case $host in '' | *[!A-Za-z0-9-]*) echo "pbs-ve: PBS_VE_STATE_DIR: \"%h\" needs a host name of letters, digits and hyphens" >&2; exit 1 ;; esac
    state=${state%%\%h*}$host${state#*\%h} ;;
esac
dir=$state/jobs/$job
if [ -r "$dir/refused" ]; then
  printf 'pbs-ve: VE refused by the prologue: %s\n' "$(cat "$dir/refused")"
  exit 1
fi
if [ ! -p "$dir/job-body.fifo" ]; then
  echo "pbs-ve: no running VE for job $job on this host (no prologue record)"
  exit 1
fi
# held open read-write, the FIFO never reports end-of-file: each wake-up is one line, kept until read
exec 3<>"$dir/job-body.fifo" || exit 1
echo "pbs-ve: job $job keeps its VE alive; the host's watcher ends it when the VE ends"
while [ ! -s "$dir/job-body.end" ]; do
  read -r _ <&3 || exit 1
done
{
  read -r code
  while IFS= read -r line; do printf '%s\n' "$line"; done
} < "$dir/job-body.end"
case $code in '' | *[!0-9]*) code=1 ;; esac
exit "$code"
