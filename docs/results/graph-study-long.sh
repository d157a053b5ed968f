#!/usr/bin/env bash
# The converged graph comparison: each model trains until its config's step budget (300 full-graph
# steps) or early stop (10 validations without a better dev score), one thread pinned to core $CORE (default 1).
# The budget is steps, not wall-clock time, so a busy machine changes how long it takes, not the result.
# Resumable: a finished run (result.json) is skipped. Seeds as arguments (default: 1).
set -u
cd "$(dirname "$0")/../.."
mkdir -p runs/graphs-long
for seed in "${@:-1}"; do
  for m in ${MODELS:-gat gcn mlp gatv2}; do
    run=runs/graphs-long/$m-s$seed
    [ -f $run/result.json ] && continue
    rm -rf $run
    OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" .venv/bin/attnkit train configs/debian-$m.yaml --out $run --no-progress \
      --set train.seed=$seed --set train.threads=1 > $run.log 2>&1 || { echo "$run failed"; continue; }
    OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" .venv/bin/attnkit evaluate --model $run --json > $run/result.tmp && mv $run/result.tmp $run/result.json
    echo "$run $(date +%T)"
  done
done
