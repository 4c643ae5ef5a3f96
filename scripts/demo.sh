#!/bin/bash
# The README's first command: on a fresh Debian 12 machine (root), install what is needed, build,
# bring up the local sandbox cluster, run the VE user story for real, and take the sandbox down again.
#   KEEP=1 scripts/demo.sh   leaves the sandbox running (then: source /tmp/pbs-ve-sandbox/env.sh; ve list)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
VE="node dist/src/qsub-wrappers/main.js"
DIR=${PBS_VE_SANDBOX:-/tmp/pbs-ve-sandbox}
$VE sandbox down --dir "$DIR" >/dev/null 2>&1 || true
$VE sandbox up --dir "$DIR"
trap '[ "${KEEP:-0}" = 1 ] || $VE sandbox down --dir "$DIR"' EXIT
$VE sandbox demo --dir "$DIR"
