"""The table and plot of the distance study (issue 30), read from its run folders.

    python docs/results/distance_summary.py [RUNS] [--plot FILE]     # default runs/distance, distance.png

Reads what ``distance-study.sh`` wrote: per run ``RUNS/{model}-s{seed}`` the test metrics
(``result.json``, from ``attnkit evaluate --json``: ``accuracy`` and ``accuracy_by_distance``) and
from ``metrics.jsonl`` the step of the best dev accuracy and the training minutes. Prints one
Markdown table: test accuracy mean ± std over the seeds (sample std) per model, overall and at each
distance, with the mean best step; writes a PNG of accuracy against distance (log x, error bars one
std; chance is 1 / C). Missing runs are left out, so it also reads a study still running.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

MODELS = {
    "rnn": "BiLSTM, final states (no attention)",
    "rnn-attention": "BiLSTM + attention pooling",
    "transformer": "self-attention, dense (SDPA)",
    "window": "self-attention, sliding window w=16",
    "linear": "linear attention",
    "performer": "Performer (64 features)",
    "nystrom": "Nystromformer (32 landmarks)",
}
RUN = re.compile(r"^(?P<model>.+)-s(?P<seed>\d+)$")


def read_run(run: Path) -> dict | None:
    """Test accuracy overall and per distance, best step and minutes of one finished run; None if unfinished."""
    result, log = run / "result.json", run / "metrics.jsonl"
    if not result.is_file() or not log.is_file():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "step" in r and "score" in r]
    metrics = json.loads(result.read_text())
    return {
        "accuracy": metrics["accuracy"],
        "by_distance": {int(d): a for d, a in metrics["accuracy_by_distance"].items()},
        "n_classes": len(metrics.get("classes", [])) or None,
        "best_step": max(rows, key=lambda r: r["score"])["step"] if rows else 0,
        "minutes": rows[-1].get("seconds", 0) / 60 if rows else 0.0,
    }


def collect(root: Path) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {}
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        m = RUN.match(path.name)
        if path.is_dir() and m and m["model"] in MODELS and (r := read_run(path)) is not None:
            runs.setdefault(m["model"], []).append(r)
    return runs


def _ms(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * sd:.1f}"


def table(runs: dict[str, list[dict]]) -> str:
    distances = sorted({d for rs in runs.values() for r in rs for d in r["by_distance"]})
    lines = [
        "| model | seeds | accuracy % | " + " | ".join(f"d = {d}" for d in distances) + " | best step | minutes |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in distances) + " | ---: | ---: |",
    ]
    for model, label in MODELS.items():
        rs = runs.get(model)
        if not rs:
            continue
        cells = [_ms([r["by_distance"][d] for r in rs if d in r["by_distance"]]) for d in distances]
        lines.append(
            f"| {label} | {len(rs)} | {_ms([r['accuracy'] for r in rs])} | "
            + " | ".join(cells)
            + f" | {statistics.fmean(r['best_step'] for r in rs):,.0f}"
            + f" | {statistics.fmean(r['minutes'] for r in rs):.1f} |"
        )
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for model, label in MODELS.items():
        rs = runs.get(model)
        if not rs:
            continue
        ds = sorted({d for r in rs for d in r["by_distance"]})
        vals = [[100 * r["by_distance"][d] for r in rs if d in r["by_distance"]] for d in ds]
        sds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in vals]
        ax.errorbar(ds, [statistics.fmean(v) for v in vals], yerr=sds, marker="o", capsize=3, label=label)
    c = next((r["n_classes"] for rs in runs.values() for r in rs if r["n_classes"]), None)
    if c:
        ax.axhline(100 / c, color="grey", ls=":", lw=1, label=f"chance (1/{c})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("distance d between the value and the query token")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("Accuracy against distance")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=Path, default=Path("runs/distance"))
    parser.add_argument("--plot", type=Path, default=Path("distance.png"), help="PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    runs = collect(args.runs)
    print(table(runs))
    if runs:
        plot(runs, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
