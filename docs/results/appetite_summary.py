"""The table and plot of the appetite study (issue 30), read from its run folders.

    python docs/results/appetite_summary.py [RUNS] [--plot FILE]     # default runs/appetite, appetite.png

Reads what ``appetite-study.sh`` wrote: per run ``RUNS/{model}-{size}-s{seed}``, the test accuracy
(``result.json``, from ``attnkit evaluate --json``), and from ``metrics.jsonl`` the step of the best
dev accuracy (steps to convergence), the last step and the training minutes. Prints one Markdown
table: test accuracy mean ± standard deviation over the seeds (sample std, n - 1) per model and
training-set size, the mean best step, and how many runs reached the step cap instead of stopping
early (a cap-limited run may not have converged). Writes a PNG of accuracy against training-set size
(log x, error bars one std). Missing runs are left out, so it also reads a study still running.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

MODELS = {"cnn": "CNN", "cnn-nonlocal": "CNN + non-local block", "vit": "ViT (4 x 4 patches)"}
RUN = re.compile(r"^(?P<model>.+)-(?P<size>\d+)-s(?P<seed>\d+)$")


def read_run(run: Path) -> dict | None:
    """Test accuracy, best (converged) step, last step, cap and minutes of one finished run; None if unfinished."""
    result, log = run / "result.json", run / "metrics.jsonl"
    if not result.is_file() or not log.is_file():
        return None
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "step" in r and "score" in r]
    if not rows:
        return None
    best = max(rows, key=lambda r: r["score"])  # the first of equal scores, as the trainer keeps it
    config = (run / "config.yaml").read_text() if (run / "config.yaml").is_file() else ""
    cap = re.search(r"^\s*max_steps:\s*(\d+)", config, re.M)
    return {
        "accuracy": json.loads(result.read_text())["accuracy"],
        "best_step": best["step"],
        "last_step": rows[-1]["step"],
        "capped": bool(cap) and rows[-1]["step"] >= int(cap.group(1)),
        "minutes": rows[-1].get("seconds", 0) / 60,
    }


def collect(root: Path) -> dict[tuple[str, int], list[dict]]:
    runs: dict[tuple[str, int], list[dict]] = {}
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        m = RUN.match(path.name)
        if not path.is_dir() or not m or m["model"] not in MODELS:
            continue
        r = read_run(path)
        if r is not None:
            runs.setdefault((m["model"], int(m["size"])), []).append(r)
    return runs


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(runs: dict[tuple[str, int], list[dict]]) -> str:
    lines = [
        "| model | training images | seeds | test accuracy % (mean ± std) | best step (mean) | at the cap | minutes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, label in MODELS.items():
        for size in sorted(s for m, s in runs if m == model):
            rs = runs[model, size]
            acc, sd = _mean_std([100 * r["accuracy"] for r in rs])
            lines.append(
                f"| {label} | {size:,} | {len(rs)} | {acc:.2f} ± {sd:.2f} "
                f"| {statistics.fmean(r['best_step'] for r in rs):,.0f} | {sum(r['capped'] for r in rs)} "
                f"| {statistics.fmean(r['minutes'] for r in rs):.1f} |"
            )
    return "\n".join(lines)


def plot(runs: dict[tuple[str, int], list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for model, label in MODELS.items():
        sizes = sorted(s for m, s in runs if m == model)
        if not sizes:
            continue
        stats = [_mean_std([100 * r["accuracy"] for r in runs[model, s]]) for s in sizes]
        ax.errorbar(sizes, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training images (Fashion-MNIST, class-balanced subset)")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("Appetite: accuracy against training-set size")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="?", type=Path, default=Path("runs/appetite"))
    parser.add_argument("--plot", type=Path, default=Path("appetite.png"), help="PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    runs = collect(args.runs)
    print(table(runs))
    if runs:
        plot(runs, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
