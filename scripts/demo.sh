#!/bin/bash
# The README's first command: on a fresh Debian 12 machine (root), install what is needed, build,
# bring up the local sandbox cluster, run the VE user story for real, and take the sandbox down again.
#   scripts/demo.sh [slurm|torque]   the batch system (default slurm; torque builds TORQUE 6.1 once, ~7 min)
#   KEEP=1 scripts/demo.sh   leaves the sandbox running (then: source /tmp/pbs-ve-sandbox/env.sh; ve list)
set -euo pipefail
cd "$(dirname "$0")/.."
BATCH=${1:-slurm}
case "$BATCH" in slurm | torque) ;; *) echo "usage: scripts/demo.sh [slurm|torque]" >&2; exit 2 ;; esac
bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
VE="node dist/src/qsub-wrappers/main.js"
DIR=${PBS_VE_SANDBOX:-/tmp/pbs-ve-sandbox}
$VE sandbox down --dir "$DIR" >/dev/null 2>&1 || true
$VE sandbox up --dir "$DIR" --batch "$BATCH"
trap '[ "${KEEP:-0}" = 1 ] || $VE sandbox down --dir "$DIR"' EXIT
$VE sandbox demo --dir "$DIR"
