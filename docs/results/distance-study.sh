#!/usr/bin/env bash
# The distance study of issue 30: accuracy against the distance d between the two tokens that decide
# the class (data.task: distance, attnkit.data.distance: a value token d positions before the query
# token that ends the sequence, distractors elsewhere; d in data.distances = 1 4 16 64 256, T = 257),
# for a bidirectional LSTM without attention (final states) and with attention pooling, dense
# self-attention (encoder-classifier) and the efficient kernels (window, linear, performer, nystrom),
# SEEDS seeds each (data.seed and train.seed), each to convergence: early stopping on dev accuracy
# (the configs' train.patience validations without improvement; max_steps is a cap), no wall-clock
# budget. C = 2 (data.n_classes): the class is the XOR of two bits, one per token. Why: in smoke runs
# (distances 1, 4, 16; 5,000 sequences; batch 32) dense self-attention with C = 8 stayed at chance
# for 600 steps, with C = 2 it left its plateau at step ~350 and reached 100 % dev accuracy at step
# 400; patience 10 x 250 steps leaves room for such a plateau before early stopping. Resumable: a run
# with result.json is skipped, an unfinished one resumed. The summary and the plot of accuracy
# against distance: docs/results/distance_summary.py.
#   CORE=0 docs/results/distance-study.sh                               # everything: 7 models x 3 seeds
#   MODELS="rnn transformer" SEEDS=1 docs/results/distance-study.sh      # a subset
set -u
cd "$(dirname "$0")/../.."
A() { OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" "${ATTNKIT:-.venv/bin/attnkit}" "$@"; }
R=${RUNS:-runs/distance}
mkdir -p "$R"
for m in ${MODELS:-rnn rnn-attention transformer window linear performer nystrom}; do
  for seed in ${SEEDS:-1 2 3}; do
    run=$R/$m-s$seed
    [ -f "$run/result.json" ] && continue
    finished=$(python3 -c "import json,sys; print(bool(json.load(open(sys.argv[1]))['extra'].get('finished')))" \
      "$run/trainer_state.json" 2>/dev/null)
    if [ -f "$run/trainer_state.json" ] && [ "$finished" != True ]; then
      A train --resume "$run" --no-progress >> "$run.log" 2>&1 || { echo "$run failed"; continue; }
    elif [ ! -f "$run/model.safetensors" ]; then
      rm -rf "$run"
      A train "configs/distance-$m.yaml" --out "$run" --no-progress \
        --set data.seed="$seed" --set train.seed="$seed" --set train.max_minutes=0 --set train.threads=1 ${EXTRA:-} \
        > "$run.log" 2>&1 || { echo "$run failed"; continue; }
    fi
    A evaluate --model "$run" --json > "$run/result.tmp" && mv "$run/result.tmp" "$run/result.json"
    echo "$run $(date +%T)"
  done
done
