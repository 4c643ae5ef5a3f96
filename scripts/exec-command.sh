#!/bin/sh
# ve ssh on TORQUE: qsub -I -x runs one word, a text script file, as the interactive job's command (its
# arguments are dropped), so the command's words come as job variables PBS_VE_ARGC and PBS_VE_ARG_1..N,
# each with '@' '%' '=' ',' written @40 @25 @3D @2C (TORQUE -v splits on ','). This runs them, nothing else.
# No #PBS lines here: qsub reads this file for directives and submits it as the job script, which holds no
# VE spec or op line, so the prologue makes no VE for the job.
set -eu
n=${PBS_VE_ARGC:?}
case $n in '' | *[!0-9]*) echo "exec-command: PBS_VE_ARGC is not a number" >&2; exit 2 ;; esac
set --
i=1
while [ "$i" -le "$n" ]; do
  eval "word=\${PBS_VE_ARG_$i:?}"
  set -- "$@" "$(printf '%s' "$word" | sed 's/@25/%/g; s/@3D/=/g; s/@2C/,/g; s/@40/@/g')"
  i=$((i + 1))
done
exec "$@"
