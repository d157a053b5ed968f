"""``attnkit demo [--out DIR]``: the main job.

Trains the date model with Bahdanau attention into DIR/bahdanau and the no-attention baseline
with the same config and budget into DIR/none (in parallel, one process and one core each),
prints dev and test exact match side by side, translates a few dates in several locales, and
writes alignment heatmaps into DIR/bahdanau/plots. With ``--transformer`` a Transformer
(configs/dates-transformer.yaml) is trained on the same data into DIR/transformer and joins the
comparison.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import unicodedata
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..io import atomic_write_text
from .common import MAX_JOBS, add_common, check_out_folder, load_run, whole

DEFAULT_OUT = "runs/demo"

if TYPE_CHECKING:
    from ..config import RunConfig

EPILOG = """example:
  attnkit demo --out runs/demo        # about 3-4 minutes on 2 CPU cores"""

log = logging.getLogger(__name__)

MODELS = ("bahdanau", "none")
# configs/dates-transformer.yaml without its data section (a test keeps the two the same)
TRANSFORMER = [
    "model.arch=transformer",
    "model.d_model=64",
    "model.n_heads=4",
    "model.enc_layers=2",
    "model.dec_layers=2",
    "model.d_ff=256",
    "model.norm=pre",
    "model.positional=rope",
    "model.dropout=0.1",
    "train.max_steps=3000",
    "train.batch_size=128",
    "train.lr=0.002",
    "train.schedule=inverse-sqrt",
    "train.warmup_steps=300",
    "train.label_smoothing=0.1",
    "train.eval_every=250",
    "train.patience=4",
    "train.seed=1234",
]
EXAMPLES = [
    ("3. Mai 1979", "de_DE"),
    ("5/3/79", "en_US"),
    ("5/3/79", "es_ES"),
    ("jeudi 3 mai 1979", "fr_FR"),
    ("3 мая 1979 г.", "ru_RU"),
    ("Saturday, 21 November 2026", "en_GB"),
    ("21 de noviembre de 2026", "es_ES"),
    ("2026年11月21日", "zh_CN"),
]
_PLOT_SCRIPTS = ("Latin", "Cyrillic")  # the default font has these glyphs; CJK needs extra fonts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help="output folder; its parent must exist (default: %(default)s)"
    )
    parser.add_argument("--config", help="YAML config to use instead of the built-in default")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable); data.* and train.* apply to every model, model.* to the RNN models",
    )
    parser.add_argument(
        "--transformer",
        action="store_true",
        help="also train the Transformer of configs/dates-transformer.yaml (about 2 more minutes)",
    )
    parser.add_argument(
        "--jobs",
        type=whole(1, MAX_JOBS),
        default=min(2, os.cpu_count() or 1),
        help="models trained at once, one core each (default: %(default)s)",
    )
    add_common(parser)


_BUCKETS = ((1, 10), (11, 20), (21, 30), (31, 64))


def _by_length(examples, translations) -> dict[str, tuple[float, int]]:
    """Exact match per source-length bucket: {"1-10": (accuracy, n), ...}."""
    out = {}
    for lo, hi in _BUCKETS:
        pairs = [(t.output, e.target) for e, t in zip(examples, translations) if lo <= len(e.text) <= hi]
        out[f"{lo}-{hi}"] = (sum(h == r for h, r in pairs) / len(pairs) if pairs else 0.0, len(pairs))
    return out


def _history(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _pad(text: str, width: int) -> str:
    """Left-align `text` in `width` terminal columns (CJK characters take two)."""
    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - cols)


def _plain(text: str) -> bool:
    return all(ord(c) < 0x0530 or c in "→–—" for c in text)  # Latin, Greek, Cyrillic


def _plans(args: argparse.Namespace) -> "dict[str, RunConfig]":
    """The config of every model the demo trains: same data, one core each."""
    from ..config import load_config

    overrides = list(args.overrides) + ([f"train.seed={args.seed}"] if args.seed is not None else [])
    cfg = load_config(args.config, overrides)  # train_many runs each on one thread
    plans = {a: replace(cfg, model=replace(cfg.model, attention=a)) for a in MODELS}
    if args.transformer:
        recipe = load_config(None, TRANSFORMER + [o for o in overrides if not o.startswith("model.")])
        plans["transformer"] = replace(recipe, data=cfg.data)
    return plans


def _evaluate(out: Path, names, summaries):
    from ..evaluation import evaluate_examples

    rows, runs, by_length = [], {}, {}
    for name, summary in zip(names, summaries):
        run_ = runs[name] = load_run(out / name)
        dev, _ = evaluate_examples(run_.model, run_.task, run_.task.load_split(run_.path, "dev"))
        test_examples = run_.task.load_split(run_.path, "test")
        test, test_out = evaluate_examples(run_.model, run_.task, test_examples)
        by_length[name] = _by_length(test_examples, test_out)
        rows.append(
            {
                "model": name,
                "dev_exact_match": dev["exact_match"],
                "test_exact_match": test["exact_match"],
                "n_test": test["n"],
                "test_alignment_accuracy": test.get("alignment_accuracy"),
                **summary,
            }
        )
    return rows, runs, by_length


def _print_tables(rows, by_length, curves, n_locales: int) -> None:
    print()
    print(f"{'model':<12} {'dev exact':>10} {'test exact':>11} {'test align':>11} {'steps':>6} {'train s':>8}")
    for r in rows:
        align = "n/a" if r["test_alignment_accuracy"] is None else f"{r['test_alignment_accuracy']:.2%}"
        print(
            f"{r['model']:<12} {r['dev_exact_match']:>10.2%} {r['test_exact_match']:>11.2%} "
            f"{align:>11} {r['steps']:>6} {r['seconds']:>8.0f}"
        )
    print(
        f"({rows[0]['n_test']} held-out test dates across {n_locales} locales; test align = share of "
        "output digits whose most-attended source character is in the right year/month/day span)"
    )
    print()
    print("test exact match by source length (characters):")
    first = next(iter(by_length.values()))
    print(f"{'model':<12} " + " ".join(f"{b:>9}" for b in first))
    for name, buckets in by_length.items():
        print(f"{name:<12} " + " ".join(f"{acc:>9.2%}" for acc, _ in buckets.values()))
    print(f"{'examples':<12} " + " ".join(f"{n:>9}" for _, n in first.values()))
    steps = sorted(set().union(*curves.values()))
    print()
    print("dev exact match during training:")
    print(f"{'step':<12} " + " ".join(f"{s:>7}" for s in steps))
    for name, curve in curves.items():
        print(f"{name:<12} " + " ".join(f"{curve[s]:>7.1%}" if s in curve else f"{'stop':>7}" for s in steps))


def _show_examples(runs, plots_dir: Path) -> tuple[dict, list[Path]]:
    from ..viz import plot_alignment, save_figure

    outputs = {name: r.task.translate(r.model, EXAMPLES) for name, r in runs.items()}
    print()
    print(f"{'locale':<7} {_pad('input', 28)} " + " ".join(f"{name:<12}" for name in outputs))
    plots = []
    for i, (text, locale) in enumerate(EXAMPLES):
        print(f"{locale:<7} {_pad(text, 28)} " + " ".join(f"{o[i].output:<12}" for o in outputs.values()))
        att = outputs["bahdanau"][i]
        if _plain(text):
            fig = plot_alignment(
                att.weights.numpy(), att.src_tokens, att.out_tokens, title=f"{locale}: {text} → {att.output}"
            )
            plots.append(save_figure(fig, plots_dir / f"alignment-{i + 1}-{locale}.png"))
    return outputs, plots


def run(args: argparse.Namespace) -> int:
    from ..training.parallel import train_many

    start = time.perf_counter()
    plans = _plans(args)
    out = check_out_folder(args.out, default=DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)  # runs/, for the default
    first = next(iter(plans.values()))
    log.info(
        "training %s on %d generated dates in %d locales (%d at a time; progress below)",
        ", ".join(plans),
        first.data.n_train,
        len(first.data.locales),
        args.jobs,
    )
    summaries = train_many(plans, out, args.jobs)
    train_seconds = time.perf_counter() - start
    rows, runs, by_length = _evaluate(out, plans, summaries)
    curves = {name: {r["step"]: r["dev_exact_match"] for r in _history(out / name)} for name in plans}
    _print_tables(rows, by_length, curves, len(first.data.locales))
    outputs, plots = _show_examples(runs, out / "bahdanau" / "plots")
    summary = {
        "models": rows,
        "dev_curves": curves,
        "train_seconds": round(train_seconds, 1),
        "test_exact_match_by_length": {
            name: {b: {"exact_match": acc, "n": n} for b, (acc, n) in buckets.items()}
            for name, buckets in by_length.items()
        },
        "examples": [
            {"text": t, "locale": loc, **{name: o[i].output for name, o in outputs.items()}}
            for i, (t, loc) in enumerate(EXAMPLES)
        ],
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False))
    print()
    print(f"heatmaps: {out / 'bahdanau' / 'plots'}/ ({len(plots)} PNG files, e.g. {plots[0].name})")
    print(f"runs: {', '.join(str(out / name) for name in plans)}; summary: {out / 'summary.json'}")
    print(f'next: attnkit translate --model {out / "bahdanau"} --locale de_DE "3. Mai 1979"')
    print(f"total time {time.perf_counter() - start:.0f} s")
    return 0
