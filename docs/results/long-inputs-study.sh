#!/usr/bin/env bash
# The long-input study of issue 30: ListOps (LRA's setting, up to 2,000 tokens) and whole Bible
# chapters (up to 4,096 subwords), each with the Transformer encoder under every attention kernel
# (dense, window, linear, performer, nystrom) and the recurrent baseline (gru: the HAN family's
# BiGRU with attention pooling), the same step budget for all (the configs' max_steps, or STEPS),
# 3 training seeds each (train.seed; the data are the same for all). Resumable: a run with
# result.json is skipped, an unfinished one resumed. The table (accuracy and wall time per
# mechanism, mean ± std over seeds) is printed by docs/results/long_inputs_summary.py.
#   CORE=1 docs/results/long-inputs-study.sh                        # everything (one core, one thread)
#   TASKS=listops MODELS="dense window" SEEDS="1 2" docs/results/long-inputs-study.sh  # a subset
#   STEPS=5 SIZES=small RUNS=/tmp/long-smoke docs/results/long-inputs-study.sh        # a smoke run
# SIZES=small also shrinks the data (ListOps: 256 / 32 / 32 sequences) for a smoke run.
set -u
cd "$(dirname "$0")/../.."
A() { OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" "${ATTNKIT:-.venv/bin/attnkit}" "$@"; }
R=${RUNS:-runs/long-inputs}
mkdir -p "$R"
for task in ${TASKS:-listops bible-chapters}; do
  for m in ${MODELS:-dense window linear performer nystrom gru}; do
    for seed in ${SEEDS:-1 2 3}; do
      run=$R/$task-$m-s$seed
      [ -f "$run/result.json" ] && continue
      finished=$(python3 -c "import json,sys; print(bool(json.load(open(sys.argv[1]))['extra'].get('finished')))" \
        "$run/trainer_state.json" 2>/dev/null)
      if [ -f "$run/trainer_state.json" ] && [ "$finished" != True ]; then
        A train --resume "$run" --no-progress >> "$run.log" 2>&1 || { echo "$run failed"; continue; }
      elif [ ! -f "$run/model.safetensors" ]; then
        rm -rf "$run"
        extra="--set train.seed=$seed --set train.threads=1"
        [ "${STEPS:-0}" != 0 ] && extra="$extra --set train.max_steps=$STEPS --set train.eval_every=$STEPS"
        [ "${SIZES:-}" = small ] && [ "$task" = listops ] &&
          extra="$extra --set data.train_size=256 --set data.dev_size=32 --set data.test_size=32"
        A train "configs/$task-$m.yaml" --out "$run" --no-progress $extra > "$run.log" 2>&1 ||
          { echo "$run failed"; continue; }
      fi
      A evaluate --model "$run" --json > "$run/result.tmp" && mv "$run/result.tmp" "$run/result.json"
      echo "$run $(date +%T)"
    done
  done
done
