"""The tables of the alignment study (issue 16), read from its run folders.

    python docs/results/alignment_summary.py [RUNS]     # default runs/alignment

Reads what `alignment-study.sh` wrote: eflomal's scores (`eflomal*.json`), and for each translation
run its test BLEU/chrF (`result.json`), the reading of the attention chosen on the dev gold
(`alignment.json`), its test AER with that choice (`aer-test.json`), each Transformer layer's head
mean (`aer-test-layer*-mean.json`), the symmetrised directions (`aer-test-{sym}.json`) and the
training log's last line (steps, seconds); and the longer Transformer runs (`long-grc-en-*`). Prints Markdown tables; a missing file leaves its cells
empty, so the script also reads a study that is still running.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

MODELS = {"none": "no attention", "bahdanau": "Bahdanau (additive, softmax)", "luong-general": "Luong general",
          "luong-local-p": "Luong local-p", "sparsemax": "Bahdanau + sparsemax", "entmax15": "Bahdanau + 1.5-entmax",
          "transformer": "Transformer", "transformer-guided": "Transformer, guided [Garg19]"}
SYMMETRISATIONS = ("intersection", "union", "grow-diag-final-and")


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def cells(score: dict | None) -> str:
    if not score:
        return " | | "
    return f" {score['aer']:.3f} | {score['precision']:.3f} | {score['recall']:.3f} "


def how(choice: dict | None) -> str:
    if not choice:
        return ""
    c = choice["choice"]
    method = c["method"] if c["method"] == "argmax" else f"threshold {c['threshold']:g}"
    where = "" if c["layer"] is None else f"layer {c['layer']}, head {c['head']}, "
    return f"{where}{method}, pieces {c['source_pool']}"


def translation(result: dict) -> str:
    """The BLEU and chrF cells of a run's result.json (empty while it is missing)."""
    bleu = f"{result['bleu']:.2f}" if "bleu" in result else ""
    chrf = f"{result['chrf']:.1f}" if "chrf" in result else ""
    return f" {bleu} | {chrf} "


def steps_of(log: Path) -> tuple[str, str]:
    if not log.is_file():
        return "", ""
    m = re.search(r"\((\d+) steps, (\d+) s\)", log.read_text())
    return (f"{int(m[1]):,}", f"{int(m[2]):,}") if m else ("", "")


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/alignment")
    print("| aligner | test BLEU | test chrF | steps | train s | dev choice | test AER | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for kind, name in (("eflomal", "eflomal, grow-diag-final-and"), ("eflomal-fwd", "eflomal, Greek → English"),
                       ("eflomal-rev", "eflomal, English → Greek")):
        print(f"| {name} | n/a | n/a | | | |{cells(read(root / f'{kind}.json'))}|")
    for model, name in MODELS.items():
        run = root / f"grc-en-{model}"
        result, choice = read(run / "result.json") or {}, read(run / "alignment.json")
        steps, secs = steps_of(root / f"grc-en-{model}.log")
        aer = " n/a | n/a | n/a " if model == "none" else cells(read(run / "aer-test.json"))
        print(f"| {name} |{translation(result)}| {steps} | {secs} | {how(choice)} |{aer}|")

    print()
    print("| Transformer | reading | test AER | precision | recall |")
    print("| --- | --- | ---: | ---: | ---: |")
    for model in ("transformer", "transformer-guided"):
        run = root / f"grc-en-{model}"
        print(f"| {MODELS[model]} | dev choice: {how(read(run / 'alignment.json'))} |{cells(read(run / 'aer-test.json'))}|")
        for layer in (-3, -2, -1):
            print(f"| | layer {layer}, mean of the heads, argmax |"
                  f"{cells(read(run / f'aer-test-layer{layer}-mean.json'))}|")
        for sym in SYMMETRISATIONS:
            print(f"| | both directions, {sym} |{cells(read(run / f'aer-test-{sym}.json'))}|")

    print()
    print("| English → Greek run | test BLEU | test chrF | steps | dev choice | test AER | precision | recall |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for model in ("transformer", "transformer-guided"):
        run = root / f"en-grc-{model}"
        result = read(run / "result.json") or {}
        score = {k.replace("align_", ""): v for k, v in result.items() if k in ("aer", "align_precision",
                                                                               "align_recall")}
        print(f"| {MODELS[model]} |{translation(result)}| {steps_of(root / f'en-grc-{model}.log')[0]} | "
              f"{how(read(run / 'alignment.json'))} |{cells(score if len(score) == 3 else None)}|")

    print()
    print("| longer run (long-grc-en-*) | test BLEU | test chrF | steps | train s | dev choice | test AER | precision "
          "| recall |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for model in ("transformer", "transformer-guided"):
        run = root / f"long-grc-en-{model}"
        steps, secs = steps_of(root / f"long-grc-en-{model}.log")
        print(f"| {MODELS[model]} |{translation(read(run / 'result.json') or {})}| {steps} | {secs} | "
              f"{how(read(run / 'alignment.json'))} |{cells(read(run / 'aer-test.json'))}|")


if __name__ == "__main__":
    main()
