"""The tables of the long-input study (issue 30), read from its run folders.

    python docs/results/long_inputs_summary.py [RUNS]     # default runs/long-inputs

Reads what ``long-inputs-study.sh`` wrote: per run (``TASK-MODEL-sSEED``), the test metrics
(``result.json``, from ``attnkit evaluate --json``), the parameter count (the training log's
first line), and from ``metrics.jsonl`` the steps and wall seconds of the last validation
(validations included) and the training throughput (sequences or documents a second, validation
not counted). Prints, per task, one Markdown table of accuracy and wall time per mechanism
(mean ± sample standard deviation over the seeds found; a single seed shows no ±) and one of test
accuracy by length bucket (mean over seeds). A missing run leaves its seed out, so the script also
reads a study that is still running.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

TASKS = {"listops": "ListOps (LRA setting, 500-2,000 tokens)", "bible-chapters": "Whole Bible chapters (subwords)"}
MODELS = {
    "dense": "dense (SDPA)",
    "window": "sliding window",
    "linear": "linear",
    "performer": "Performer",
    "nystrom": "Nyströmformer",
    "gru": "BiGRU + attention pooling (HAN)",
}


def mean_std(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    if not values:
        return "–"
    m = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def params(log: Path) -> str:
    m = re.search(r"with (\d+) parameters", log.read_text()) if log.is_file() else None
    return f"{int(m.group(1)):,}" if m else "?"


def progress(run: Path) -> tuple[int, float, float]:
    """(steps, wall seconds, training units a second) from the run's validation log."""
    path = run / "metrics.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []
    rows = [r for r in rows if "step" in r]
    if not rows:
        return 0, 0.0, 0.0
    rates = [v for r in rows for k, v in r.items() if k.endswith("_per_s")]
    return rows[-1]["step"], float(rows[-1].get("seconds", 0.0)), statistics.fmean(rates) if rates else 0.0


def main(argv: list[str]) -> None:
    root = Path(argv[0] if argv else "runs/long-inputs")
    for task, title in TASKS.items():
        found = {m: sorted(root.glob(f"{task}-{m}-s*/result.json")) for m in MODELS}
        if not any(found.values()):
            continue
        print(f"\n### {title}\n")
        print("| mechanism | params | steps | seeds | test accuracy % | macro-F1 | wall minutes | train items/s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        buckets: dict[str, dict[str, list[float]]] = {}
        for m, label in MODELS.items():
            if not found[m]:
                continue
            results = [json.loads(p.read_text()) for p in found[m]]
            runs = [p.parent for p in found[m]]
            prog = [progress(r) for r in runs]
            steps = sorted({s for s, _, _ in prog})
            print(
                f"| {label} | {params(Path(str(runs[0]) + '.log'))} | {'/'.join(f'{s:,}' for s in steps)} "
                f"| {len(results)} | {mean_std([r['accuracy'] for r in results], 100)} "
                f"| {mean_std([r['macro_f1'] for r in results], 1, 3)} "
                f"| {mean_std([s / 60 for _, s, _ in prog])} | {mean_std([u for _, _, u in prog], 1, 1)} |"
            )
            for r in results:
                for row in r.get("by_length", []):
                    key = str(row.get("tokens", row.get("subwords")))
                    buckets.setdefault(key, {}).setdefault(m, []).append(row["accuracy"])
        if buckets:
            order = sorted(buckets, key=lambda k: int(k.split("-")[0]))
            models = [m for m in MODELS if found[m]]
            print(f"\ntest accuracy % by length ({'tokens' if task == 'listops' else 'subwords'}), mean over seeds\n")
            print("| length | " + " | ".join(MODELS[m] for m in models) + " |")
            print("| --- | " + " | ".join("---:" for _ in models) + " |")
            for key in order:
                cells = [mean_std(buckets[key].get(m, []), 100) if buckets[key].get(m) else "–" for m in models]
                print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
