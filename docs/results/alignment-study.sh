#!/usr/bin/env bash
# The alignment study of issue 16: AER on the 1,000 gold test verses (SBLGNT -> BSB manual links)
# for eflomal and for the attention of each translation model, all trained with the same budget
# (30 minutes, one thread pinned to core 1), BLEU beside. Resumable: a run with result.json is skipped.
# The layer/head/method of each model is chosen on the 300 gold dev verses (--choose), never on test.
# On a core shared with other jobs, a time budget gives unequal step counts: set STEPS (e.g. STEPS=20000)
# to give every model the same number of steps instead. CORE (default 1) pins the runs; MODELS (default
# all ten) picks the translation runs of step 2, so two instances can share the runs over two cores:
#   CORE=0 MODELS="none bahdanau luong-general luong-local-p sparsemax" docs/results/alignment-study.sh &
#   CORE=1 MODELS="entmax15 transformer transformer-guided en-grc-transformer en-grc-transformer-guided" \
#     docs/results/alignment-study.sh; wait; docs/results/alignment-study.sh   # the last call only evaluates
set -u
cd "$(dirname "$0")/../.."
A() { OMP_NUM_THREADS=1 taskset -c "${CORE:-1}" .venv/bin/attnkit "$@"; }
C=corpora/alignments.SBLGNT-BSB
R=runs/alignment
mkdir -p $R

# 1. the corpus, its gold links and eflomal's links (train + dev + test text, both directions, gdfa)
[ -f $C/manifest.json ] || A data alignments --out $C   # built once (two instances must not race)
for kind in eflomal eflomal-fwd eflomal-rev; do
  A evaluate --links $C/test.$kind.pharaoh --gold $C/test.gold.pharaoh --json > $R/$kind.json
done

# 2. one translation run per mechanism, Greek -> English; the same budget for each
ALL="none bahdanau luong-general luong-local-p sparsemax entmax15 transformer transformer-guided
     en-grc-transformer en-grc-transformer-guided"
for m in ${MODELS:-$ALL}; do
  case $m in en-grc-*) cfg=configs/$m.yaml; run=$R/$m ;; *) cfg=configs/grc-en-$m.yaml; run=$R/grc-en-$m ;; esac
  [ -f $run/result.json ] && continue
  rm -rf $run
  budget="--set train.max_minutes=30"
  [ -n "${STEPS:-}" ] && budget="--set train.max_minutes=0 --set train.max_steps=$STEPS --set train.patience=100000"
  A train $cfg --out $run --no-progress --set train.threads=1 $budget > $run.log 2>&1 \
    || { echo "$run failed"; continue; }
  if [ $m != none ]; then
    A evaluate --model $run --split dev --choose > $run/choose-dev.txt              # keeps alignment.json
  fi
  A evaluate --model $run --json > $run/result.tmp && mv $run/result.tmp $run/result.json   # BLEU, chrF (+ AER)
  echo "$run $(date +%T)"
done

[ -n "${MODELS:-}" ] && exit 0   # a partial instance trains only; a plain call evaluates all
# 3. on the gold test verses (result.json already holds the AER of the dev choice): the links and picture,
#    and each Transformer layer's head mean
for m in bahdanau luong-general luong-local-p sparsemax entmax15 transformer transformer-guided; do
  run=$R/grc-en-$m
  A align --model $run --input $C/test.src --target $C/test.tgt --output $run/test.pharaoh \
    --gold $C/test.gold.pharaoh --plot docs/results/alignment-$m.png --plot-line 3
done
for m in transformer transformer-guided; do
  for layer in -3 -2 -1; do
    A evaluate --model $R/grc-en-$m --gold $C/test.gold.pharaoh --layer $layer --head mean --method argmax \
      --json > $R/grc-en-$m/aer-test-layer$layer-mean.json
  done
  # both directions symmetrised (each direction's own dev choice)
  for sym in intersection union grow-diag-final-and; do
    A evaluate --model $R/grc-en-$m --reverse $R/en-grc-$m --symmetrisation $sym --gold $C/test.gold.pharaoh \
      --json > $R/grc-en-$m/aer-test-$sym.json
  done
done
