#!/usr/bin/env bash
# The graph comparison: GAT, GATv2, GCN, MLP on the Debian package graph, 3 seeds, 3 minutes each,
# one thread pinned to core 1. Resumable: a finished run (result.json) is skipped.
set -u
cd "$(dirname "$0")/../.."
mkdir -p runs/graphs
for seed in 1 2 3; do
  for m in gat gatv2 gcn mlp; do
    run=runs/graphs/$m-s$seed
    [ -f $run/result.json ] && continue
    rm -rf $run
    OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/attnkit train configs/debian-$m.yaml --out $run --no-progress \
      --set train.seed=$seed --set train.max_minutes=3 --set train.threads=1 --set train.max_steps=100000 \
      --set train.patience=100000 > $run.log 2>&1 || { echo "$run failed"; continue; }
    OMP_NUM_THREADS=1 taskset -c 1 .venv/bin/attnkit evaluate --model $run --json > $run/result.tmp && mv $run/result.tmp $run/result.json
    echo "$run $(date +%T)"
  done
done
