#!/usr/bin/env bash
# The appetite study of issue 30: does self-attention need more data than a CNN? The CNN, the CNN with
# a non-local block and the ViT (configs/fashion-{cnn,cnn-nonlocal,vit}.yaml) trained on Fashion-MNIST
# with SIZES training images (data.train_size: a seeded, class-balanced draw from the 55,000 images
# left after the 5,000 dev images; for one seed the smaller subsets are nested in the larger ones),
# SEEDS seeds each (data.seed and train.seed), each to convergence: early stopping on dev accuracy
# (train.patience validations without improvement), no wall-clock budget. max_steps is only a cap
# (EPOCHS passes over the subset, at least MIN_STEPS steps; the cosine schedule decays over it); the
# summary marks a run that reached the cap instead of stopping early. Resumable: a run with
# result.json is skipped, an unfinished one resumed. The summary: docs/results/appetite_summary.py.
#   CORE=0 docs/results/appetite-study.sh                         # everything: 3 models x 5 sizes x 3 seeds
#   MODELS=cnn SIZES="1000 3000" SEEDS=1 docs/results/appetite-study.sh   # a subset
set -u
cd "$(dirname "$0")/../.."
A() { OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" "${ATTNKIT:-.venv/bin/attnkit}" "$@"; }
R=${RUNS:-runs/appetite}
EPOCHS=${EPOCHS:-50}
MIN_STEPS=${MIN_STEPS:-2000}
BATCH=128  # the configs' train.batch_size
mkdir -p "$R"
for size in ${SIZES:-1000 3000 10000 30000 55000}; do
  cap=$(( (EPOCHS * size + BATCH - 1) / BATCH ))
  [ "$cap" -lt "$MIN_STEPS" ] && cap=$MIN_STEPS
  for m in ${MODELS:-cnn cnn-nonlocal vit}; do
    for seed in ${SEEDS:-1 2 3}; do
      run=$R/$m-$size-s$seed
      [ -f "$run/result.json" ] && continue
      finished=$(python3 -c "import json,sys; print(bool(json.load(open(sys.argv[1]))['extra'].get('finished')))" \
        "$run/trainer_state.json" 2>/dev/null)
      if [ -f "$run/trainer_state.json" ] && [ "$finished" != True ]; then
        A train --resume "$run" --no-progress >> "$run.log" 2>&1 || { echo "$run failed"; continue; }
      elif [ ! -f "$run/model.safetensors" ]; then
        rm -rf "$run"
        A train "configs/fashion-$m.yaml" --out "$run" --no-progress \
          --set data.train_size="$size" --set data.seed="$seed" --set train.seed="$seed" \
          --set train.max_steps="$cap" --set train.max_minutes=0 --set train.threads=1 ${EXTRA:-} \
          > "$run.log" 2>&1 || { echo "$run failed"; continue; }
      fi
      A evaluate --model "$run" --json > "$run/result.tmp" && mv "$run/result.tmp" "$run/result.json"
      echo "$run $(date +%T)"
    done
  done
done
