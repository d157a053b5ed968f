"""``attnkit compare CONFIG... [--out DIR]``: train several configs on the same data and budget
rules, then write one Markdown table and one grid of alignment heatmaps.

Every config must describe the same data (``--set data.*`` applies to all of them); each trains
into DIR/<config name>, `--jobs` at a time on one core each.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import atomic_write_text
from .common import MAX_JOBS, UserError, add_common, check_out_folder, load_run, whole

DEFAULT_OUT = "runs/compare"

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EPILOG = """example:
  attnkit compare configs/dates-bahdanau.yaml configs/dates-sparsemax.yaml configs/dates-luong-local-p.yaml
  attnkit compare configs/dates-*.yaml --out runs/compare --set train.max_steps=500"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML run configs (two or more)")
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help="output folder; its parent must exist (default: %(default)s)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value in every config (repeatable)",
    )
    parser.add_argument(
        "--jobs",
        type=whole(1, MAX_JOBS),
        default=min(2, os.cpu_count() or 1),
        help="runs trained at once, one core each (default: %(default)s)",
    )
    parser.add_argument("--example", default="Saturday, 21 November 2026", help="sentence for the heatmap grid")
    parser.add_argument("--locale", default="en_GB", help="locale of --example (default: %(default)s)")
    add_common(parser)


def _plans(args: argparse.Namespace) -> dict:
    from ..config import load_config

    plans = {}
    for path in args.configs:
        name = Path(path).stem
        if name in plans:
            raise UserError(f"two configs are named {name!r}; give each config file its own name", code=2)
        plans[name] = load_config(path, list(args.overrides))
    if len(plans) < 2:
        raise UserError("compare needs at least two configs", code=2)
    first_name, first = next(iter(plans.items()))
    for name, cfg in plans.items():
        if cfg.data != first.data:
            raise UserError(
                f"{name} and {first_name} describe different data; make their data: sections "
                "equal or set them with --set data.KEY=VALUE",
                code=2,
            )
    return plans


def _row(name: str, cfg, run_, summary: dict) -> dict:
    from ..training.pipeline import model_label

    test, _ = run_.task.evaluate(run_.model, run_.task.load_split(run_.path, "test"))
    metric = run_.task.metric.name
    declared = run_.capabilities.model
    return {
        "run": name,
        "model": model_label(cfg),
        "normaliser": declared.normaliser or "—",
        "metric": metric,
        metric: test[metric],
        "alignment_accuracy": test.get("alignment_accuracy"),
        "zero_weight_share": test.get("zero_weight_share"),
        "n_test": test["n"],
        **summary,
    }


def _table(rows: list[dict]) -> str:
    def pct(x) -> str:
        return "n/a" if x is None else f"{x:.2%}"

    metric = rows[0]["metric"]

    def primary(x) -> str:
        return f"{x:.2f}" if x > 1 else pct(x)

    lines = [
        f"| run | model | normaliser | test {metric.replace('_', ' ')} | alignment accuracy | zero weights | "
        "steps | train s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['run']} | {r['model']} | {r['normaliser']} | {primary(r[metric])} | "
        f"{pct(r['alignment_accuracy'])} | {pct(r['zero_weight_share'])} | {r['steps']} | "
        f"{r['seconds']:.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def _grid(runs: dict, text: str, locale: str) -> "Figure":
    from matplotlib.figure import Figure

    from ..viz import plot_alignment

    with_attention = {n: r for n, r in runs.items() if r.capabilities.model.attention}
    cols = min(3, len(with_attention))
    fig = Figure(figsize=(6.5 * cols, 3.6 * math.ceil(len(with_attention) / cols)), layout="constrained")
    axes = fig.subplots(math.ceil(len(with_attention) / cols), cols, squeeze=False).flatten()
    for ax, (name, run_) in zip(axes, with_attention.items()):
        takes_locale = "locale" in run_.capabilities.task.option_defaults
        (tr,) = run_.task.predict(run_.model, [text], options={"locale": locale} if takes_locale else {})
        weights = tr.weights.mean(0) if tr.weights.dim() == 3 else tr.weights  # heads: their mean
        plot_alignment(weights.numpy(), tr.src_tokens, tr.out_tokens, ax=ax, title=f"{name}: {tr.output}")
    for ax in axes[len(with_attention) :]:
        ax.set_visible(False)
    return fig


def run(args: argparse.Namespace) -> int:
    from ..training.parallel import train_many
    from ..viz import save_figure

    out = check_out_folder(args.out, default=DEFAULT_OUT)
    plans = _plans(args)
    out.mkdir(parents=True, exist_ok=True)  # runs/, for the default
    summaries = train_many(plans, out, args.jobs)
    runs = {name: load_run(out / name) for name in plans}
    rows = [_row(name, plans[name], runs[name], s) for name, s in zip(plans, summaries)]
    table = _table(rows)
    grid = save_figure(_grid(runs, args.example, args.locale), out / "alignments.png")
    command = "attnkit compare " + " ".join(args.configs) + "".join(f" --set {o}" for o in args.overrides)
    report = (
        f"# Comparison\n\n{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores; "
        f"{args.jobs} runs at a time, one core each. Command:\n\n```bash\n{command}\n```\n\n{table}\n\n"
        f"Test set: {rows[0]['n_test']} examples. Alignment accuracy: share of output positions whose "
        "most-attended source position lies in the gold span. Zero weights: share of alignment "
        f"weights that are exactly 0.\n\n![alignments](alignments.png)\n"
    )
    atomic_write_text(out / "comparison.md", report)
    atomic_write_text(out / "comparison.json", json.dumps(rows, indent=1))
    print(table)
    print(f"\nreport: {out / 'comparison.md'}; heatmaps: {grid}")
    return 0
