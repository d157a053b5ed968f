#!/usr/bin/env bash
# The spoken-dates comparison of issue 14: Bahdanau, location-aware and Transformer attention over the
# frames of the same spoken dates, the same budget each (STEPS steps of 32 utterances, default 3,000; dev
# every 500 steps, best checkpoint kept, no early stop), one thread; the RNNs read the frames through
# the strided-convolution listener (model.frontend=conv: 5 times cheaper per step on this CPU than the
# pyramidal BiLSTM). Then the test split (held-out voices), greedy, with the monotonicity metric.
# The budget is steps, not minutes, so a busy machine changes how long it takes, not the result.
# FRONTEND=self-attention gives the RNNs the self-attention listener instead of the BiLSTM one.
# LOCALES="en_US en_GB" restricts the dates to those locales (the English study: N_TRAIN=6000 STEPS=1500
# OUT=runs/speech-en). Resumable: a run with result.json is skipped.
# Usage: docs/results/speech-study.sh [MECHANISM ...]
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/speech}
mkdir -p $OUT
A() { OMP_NUM_THREADS=1 taskset -c "${CORES:-0,1}" .venv/bin/attnkit "$@"; }
for m in ${@:-bahdanau location-aware transformer}; do
  run=$OUT/spoken-dates-$m
  [ -f $run/result.json ] && continue
  rm -rf $run
  frontend="--set model.frontend=${FRONTEND:-conv}"
  [ $m = transformer ] && frontend=""
  locales=""
  [ -n "${LOCALES:-}" ] && locales="data.locales=[$(echo $LOCALES | tr ' ' ,)]"
  A train configs/spoken-dates-$m.yaml --out $run --no-progress --set train.threads=1 $frontend \
    --set data.n_train=${N_TRAIN:-15000} --set train.max_steps=${STEPS:-3000} --set train.eval_every=${EVAL_EVERY:-500} \
    --set train.patience=100 ${locales:+--set "$locales"} > $run.log 2>&1 || { echo "$run failed"; continue; }
  A evaluate --model $run --json > $run/result.tmp && mv $run/result.tmp $run/result.json
  echo "$run $(date +%T)"
done
