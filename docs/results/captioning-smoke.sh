#!/usr/bin/env bash
# Smoke run of the captioning comparison: soft, hard and no attention with the same budget
# (1000 steps of 32 scenes, a small encoder), one thread pinned to core 1; then the test split
# (greedy and beam 5) and one per-word picture. Not the study: see docs/results/captioning.md.
# Usage: docs/results/captioning-smoke.sh [PYTHON]   (default: .venv/bin/python)
set -u
cd "$(dirname "$0")/../.."
PY=${1:-.venv/bin/python}
OUT=${OUT:-runs/captioning-smoke}
mkdir -p $OUT
for att in soft hard none; do
  run=$OUT/$att
  [ -f $run/result.json ] && continue
  rm -rf $run
  OMP_NUM_THREADS=1 PYTHONPATH=src taskset -c 1 $PY -m attnkit.cli train configs/scenes-caption-$att.yaml --out $run \
    --no-progress --set model.channels=[16,32,64] --set train.batch_size=32 --set train.lr=0.003 \
    --set train.max_steps=1000 --set train.eval_every=250 --set train.patience=100 --set train.threads=1 \
    > $run.log 2>&1 || { echo "$run failed"; continue; }
  OMP_NUM_THREADS=1 PYTHONPATH=src taskset -c 1 $PY -m attnkit.cli evaluate --model $run --json > $run/beam1.json
  OMP_NUM_THREADS=1 PYTHONPATH=src taskset -c 1 $PY -m attnkit.cli evaluate --model $run --beam 5 --json \
    > $run/result.tmp && mv $run/result.tmp $run/result.json
  echo "$run $(date +%T)"
done
