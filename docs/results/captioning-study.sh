#!/usr/bin/env bash
# The captioning study of issue 13: soft, hard and no attention trained with the same budget, the
# shipped configs as they are (3,000 steps of 32 scenes, dev BLEU-4 every 250 steps, best checkpoint
# kept, no early stop), one thread each; then the 1,000 test scenes, greedy and beam 5.
# The budget is steps, not minutes, so a busy machine changes how long it takes, not the result.
# Resumable: a run with result.json is skipped. Usage: docs/results/captioning-study.sh [ATTENTION ...]
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/captioning}
mkdir -p $OUT
A() { OMP_NUM_THREADS=1 taskset -c "${CORES:-0,1}" .venv/bin/attnkit "$@"; }
for att in "${@:-soft hard none}"; do
  for a in $att; do
    run=$OUT/$a
    [ -f $run/result.json ] && continue
    rm -rf $run
    A train configs/scenes-caption-$a.yaml --out $run --no-progress --set train.threads=1 > $run.log 2>&1 \
      || { echo "$run failed"; continue; }
    A evaluate --model $run --json > $run/beam1.json
    A evaluate --model $run --beam 5 --json > $run/result.tmp && mv $run/result.tmp $run/result.json
    echo "$run $(date +%T)"
  done
done
