#!/usr/bin/env bash
# The tagging study of issue 29: Greek part-of-speech and morphology tagging of the SBLGNT (the
# bible-alignments wheel's token table) on a random verse split and a book split (whole books held
# out), for the dictionary baseline and each neural tagger, trained with one step budget each
# (early stopping on dev accuracy, train.patience validations without improvement). Resumable: a
# run with result.json is skipped. The summary (tables of docs/results/tagging.md) is printed by
# docs/results/tagging_summary.py.
#   CORE=1 docs/results/tagging-study.sh          # all models, both splits, the configs' max_steps (STEPS=N: another)
#   MODELS="transformer bilstm" SPLITS=book docs/results/tagging-study.sh  # a subset
set -u
cd "$(dirname "$0")/../.."
A() { OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" "${ATTNKIT:-.venv/bin/attnkit}" "$@"; }
R=${RUNS:-runs/tagging}
mkdir -p "$R"
for split in ${SPLITS:-verse book}; do
  for m in ${MODELS:-dictionary transformer bilstm cnn bilstm-attention}; do
    run=$R/$m-$split
    [ -f "$run/result.json" ] && continue
    finished=$(python3 -c "import json,sys; print(bool(json.load(open(sys.argv[1]))['extra'].get('finished')))" \
      "$run/trainer_state.json" 2>/dev/null)
    if [ -f "$run/trainer_state.json" ] && [ "$finished" != True ]; then
      A train --resume "$run" --no-progress >> "$run.log" 2>&1 || { echo "$run failed"; continue; }
    elif [ ! -f "$run/model.safetensors" ]; then
      rm -rf "$run"
      budget=""
      [ "$m" != dictionary ] && budget="--set train.max_minutes=0" && [ "${STEPS:-0}" != 0 ] && budget="$budget --set train.max_steps=$STEPS"
      A train "configs/greek-tagging-$m-$split.yaml" --out "$run" --no-progress --set train.threads=1 $budget \
        > "$run.log" 2>&1 || { echo "$run failed"; continue; }
    fi
    A evaluate --model "$run" --json > "$run/result.tmp" && mv "$run/result.tmp" "$run/result.json"
    echo "$run $(date +%T)"
  done
done
