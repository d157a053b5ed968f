"""The tables of the alignment study (issue 16), read from its run folders.

    python docs/results/alignment_summary.py [RUNS]     # default runs/alignment

Reads what `alignment-study.sh` wrote: eflomal's scores (`eflomal*.json`); for each translation run
its test BLEU/chrF and its test AER with the reading of the attention chosen on the dev gold
(`result.json`, from `attnkit evaluate --json`; the choice itself from `alignment.json`) and the
training log's last line (steps, seconds); for the Transformers each layer's head mean
(`aer-test-layer*-mean.json`) and the symmetrised directions (`aer-test-{sym}.json`); and the longer
Transformer runs (`long-grc-en-*`). Prints Markdown tables; a missing file leaves its cells empty,
so the script also reads a study that is still running.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

MODELS = {
    "none": "no attention",
    "bahdanau": "Bahdanau (additive, softmax)",
    "luong-general": "Luong general",
    "luong-local-p": "Luong local-p",
    "sparsemax": "Bahdanau + sparsemax",
    "entmax15": "Bahdanau + 1.5-entmax",
    "transformer": "Transformer",
    "transformer-guided": "Transformer, guided [Garg19]",
}
SYMMETRISATIONS = ("intersection", "union", "grow-diag-final-and")


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def cells(score: dict | None, prefix: str = "") -> str:
    """AER, precision and recall cells of `score` (keys `aer`, `{prefix}precision`, `{prefix}recall`)."""
    if not score or "aer" not in score:
        return " | | "
    return f" {score['aer']:.3f} | {score[prefix + 'precision']:.3f} | {score[prefix + 'recall']:.3f} "


def how(choice: dict | None) -> str:
    if not choice:
        return ""
    c = choice["choice"]
    method = c["method"] if c["method"] == "argmax" else f"threshold {c['threshold']:g}"
    return f"layer {c['layer']}, head {c['head']}, {method}, pieces {c['source_pool']}"


def run_row(root: Path, name: str, label: str) -> str:
    """One translation run's cells: test BLEU, chrF, steps, seconds, the dev choice, test AER/P/R.

    The AER is the one `attnkit evaluate --json` put in result.json, read with the run's dev choice."""
    result = read(root / name / "result.json") or {}
    bleu = f"{result['bleu']:.2f}" if "bleu" in result else ""
    chrf = f"{result['chrf']:.1f}" if "chrf" in result else ""
    steps = secs = ""
    log = root / f"{name}.log"
    if log.is_file() and (m := re.search(r"\((\d+) steps, (\d+) s\)", log.read_text())):
        steps, secs = f"{int(m[1]):,}", f"{int(m[2]):,}"
    aer = " n/a | n/a | n/a " if name.endswith("-none") else cells(result, "align_")
    return f"| {label} | {bleu} | {chrf} | {steps} | {secs} | {how(read(root / name / 'alignment.json'))} |{aer}|"


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/alignment")
    header = (
        "| {} | test BLEU | test chrF | steps | train s | dev choice | test AER | precision | recall |\n"
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"
    )
    print(header.format("aligner"))
    for kind, name in (
        ("eflomal", "eflomal, grow-diag-final-and"),
        ("eflomal-fwd", "eflomal, Greek → English"),
        ("eflomal-rev", "eflomal, English → Greek"),
    ):
        print(f"| {name} | n/a | n/a | | | |{cells(read(root / f'{kind}.json'))}|")
    for model, label in MODELS.items():
        print(run_row(root, f"grc-en-{model}", label))

    print()
    print("| Transformer | reading | test AER | precision | recall |")
    print("| --- | --- | ---: | ---: | ---: |")
    for model in ("transformer", "transformer-guided"):
        run = root / f"grc-en-{model}"
        print(
            f"| {MODELS[model]} | dev choice: {how(read(run / 'alignment.json'))} |"
            f"{cells(read(run / 'result.json'), 'align_')}|"
        )
        for layer in (-3, -2, -1):
            print(
                f"| | layer {layer}, mean of the heads, argmax |"
                f"{cells(read(run / f'aer-test-layer{layer}-mean.json'))}|"
            )
        for sym in SYMMETRISATIONS:
            print(f"| | both directions, {sym} |{cells(read(run / f'aer-test-{sym}.json'))}|")

    for title, prefix in (("English → Greek run", "en-grc-"), ("longer run, 3,000 steps", "long-grc-en-")):
        print()
        print(header.format(title))
        for model in ("transformer", "transformer-guided"):
            print(run_row(root, prefix + model, MODELS[model]))


if __name__ == "__main__":
    main()
