"""The tables of the tagging study (issue 29), read from its run folders.

    python docs/results/tagging_summary.py [RUNS]     # default runs/tagging

Reads what ``tagging-study.sh`` wrote: per run, the test metrics (``result.json``, from
``attnkit evaluate --json``), the parameter count (the training log's first line), and the steps
and seconds of the last validation (``metrics.jsonl``). Prints one Markdown table per split; a
missing run leaves its row out, so the script also reads a study that is still running.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

MODELS = {
    "dictionary": "dictionary baseline (most frequent tag, suffix fallback)",
    "transformer": "self-attention encoder (tagger-transformer)",
    "bilstm-attention": "BiLSTM + self-attention (tagger-bilstm-attention)",
    "bilstm": "BiLSTM (tagger-bilstm)",
    "cnn": "CNN (tagger-cnn)",
}


def params(log: Path) -> str:
    m = re.search(r"with (\d+) parameters", log.read_text()) if log.is_file() else None
    return f"{int(m.group(1)):,}" if m else "0"


def progress(run: Path) -> tuple[str, str, str]:
    """(steps, wall minutes, best step) from the run's validation log."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return "0", "< 1", ""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "step" in r]
    if not rows:
        return "0", "< 1", ""
    best = max(rows, key=lambda r: r.get("score", 0.0))
    return f"{rows[-1]['step']:,}", f"{rows[-1].get('seconds', 0) / 60:.1f}", f"{best['step']:,}"


def main(argv: list[str]) -> None:
    root = Path(argv[0] if argv else "runs/tagging")
    for split in ("verse", "book"):
        print(f"\n### {split} split\n")
        print("| model | params | steps (best) | minutes | POS | POS unseen | morph | morph unseen | POS macro-F1 |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        base = None
        for name, label in MODELS.items():
            run = root / f"{name}-{split}"
            result = run / "result.json"
            if not result.is_file():
                continue
            r = json.loads(result.read_text())
            steps, minutes, best = progress(run)
            if name == "dictionary":
                base = r
                steps, minutes, best = "counted once", "< 1", ""
            delta = ""
            if base is not None and name != "dictionary":
                delta = f" ({100 * (r['pos_accuracy'] - base['pos_accuracy']):+.2f}, " + (
                    f"{100 * (r['morph_accuracy'] - base['morph_accuracy']):+.2f})"
                )
            print(
                f"| {label}{delta} | {params(run.with_suffix('.log'))} | {steps}{f' ({best})' if best else ''} "
                f"| {minutes} | {100 * r['pos_accuracy']:.2f} | {100 * r['pos_unseen_accuracy']:.2f} "
                f"| {100 * r['morph_accuracy']:.2f} | {100 * r['morph_unseen_accuracy']:.2f} "
                f"| {100 * r['pos_macro_f1']:.2f} |"
            )
        if base is not None:
            print(
                f"\n{base['n']:,} test words, {base['n_unseen']:,} of them unseen in training "
                f"({100 * base['n_unseen'] / base['n']:.1f} %)."
            )


if __name__ == "__main__":
    main(sys.argv[1:])
