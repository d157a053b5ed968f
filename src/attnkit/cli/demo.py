"""``attnkit demo [--out DIR]``: the main job.

Trains the date model with Bahdanau attention into DIR/bahdanau and the no-attention baseline
with the same config and budget into DIR/none (in parallel, one process and one core each),
prints dev and test exact match side by side, translates a few dates in several locales, and
writes alignment heatmaps into DIR/bahdanau/plots.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import sys
import time
import unicodedata
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from ..config import RunConfig, load_config
from ..decoding import translate
from ..evaluation import evaluate_examples
from ..io import atomic_write_text
from ..training import load_run
from ..training.pipeline import train_run
from ..viz import plot_alignment, save_figure
from .common import add_common

EPILOG = """example:
  attnkit demo --out runs/demo        # about 3-4 minutes on 2 CPU cores"""

log = logging.getLogger(__name__)

MODELS = ("bahdanau", "none")
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
    parser.add_argument("--out", default="runs/demo", help="output folder (default: %(default)s)")
    parser.add_argument("--config", help="YAML config to use instead of the built-in default")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value for both models (repeatable)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="models trained at once, one core each (default: %(default)s)")
    add_common(parser)


def _train_worker(job: tuple[dict, str, str, int, bool, int]) -> dict:
    """Train one model in a child process (one thread); returns its summary."""
    raw_cfg, attention, run_dir, level, progress, position = job
    import torch

    torch.set_num_threads(1)
    logging.basicConfig(level=level, format=f"[{attention}] %(message)s", stream=sys.stderr, force=True)
    cfg = load_config(None, [f"{sec}.{k}={json.dumps(v)}" for sec, d in raw_cfg.items()
                             for k, v in d.items()])
    result = train_run(cfg, run_dir, progress=progress, progress_position=position)
    return {"steps": result.steps, "best_step": result.best_step, "seconds": result.seconds}


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


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    overrides = list(args.overrides) + ([f"train.seed={args.seed}"] if args.seed is not None else [])
    cfg: RunConfig = load_config(args.config, overrides)
    cfg = replace(cfg, train=replace(cfg.train, threads=1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for attention in MODELS:
        model_cfg = replace(cfg.model, attention=attention)
        jobs.append((replace(cfg, model=model_cfg).to_dict(), attention, str(out / attention),
                     logging.getLogger().level, sys.stderr.isatty(), len(jobs)))
    log.info("training %s on %d generated dates in %d locales (%d at a time; progress below)",
             " and ".join(MODELS), cfg.data.n_train, len(cfg.data.locales), args.jobs)
    if args.jobs > 1:
        ctx = mp.get_context("spawn")
        lock = ctx.RLock()  # one lock for all progress bars, so they do not overwrite each other
        tqdm.set_lock(lock)
        pool = ctx.Pool(min(args.jobs, len(jobs)), initializer=tqdm.set_lock, initargs=(lock,))
        try:
            summaries = pool.map(_train_worker, jobs)
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    else:
        summaries = [_train_worker(j) for j in jobs]
    train_seconds = time.perf_counter() - start

    rows, runs, by_length = [], {}, {}
    for attention, summary in zip(MODELS, summaries):
        run_ = runs[attention] = load_run(out / attention)
        dev, _ = evaluate_examples(run_.model, run_.task, run_.task.load_split(run_.path, "dev"))
        test_examples = run_.task.load_split(run_.path, "test")
        test, test_out = evaluate_examples(run_.model, run_.task, test_examples)
        by_length[attention] = _by_length(test_examples, test_out)
        rows.append({"model": attention, "dev_exact_match": dev["exact_match"],
                     "test_exact_match": test["exact_match"], "n_test": test["n"],
                     "test_alignment_accuracy": test.get("alignment_accuracy"), **summary})
    print()
    print(f"{'model':<10} {'dev exact':>10} {'test exact':>11} {'test align':>11} {'steps':>6} {'train s':>8}")
    for r in rows:
        align = "n/a" if r["test_alignment_accuracy"] is None else f"{r['test_alignment_accuracy']:.2%}"
        print(f"{r['model']:<10} {r['dev_exact_match']:>10.2%} {r['test_exact_match']:>11.2%} "
              f"{align:>11} {r['steps']:>6} {r['seconds']:>8.0f}")
    print(f"({rows[0]['n_test']} held-out test dates across {len(cfg.data.locales)} locales; "
          "test align = share of output digits whose most-attended source character is in the "
          "right year/month/day span)")

    print()
    print("test exact match by source length (characters):")
    print(f"{'model':<10} " + " ".join(f"{b:>9}" for b in by_length["bahdanau"]))
    for attention, buckets in by_length.items():
        print(f"{attention:<10} " + " ".join(f"{acc:>9.2%}" for acc, _ in buckets.values()))
    print(f"{'examples':<10} " + " ".join(f"{n:>9}" for _, n in by_length["bahdanau"].values()))
    curves = {a: {r["step"]: r["dev_exact_match"] for r in _history(out / a)} for a in MODELS}
    steps = sorted(set().union(*curves.values()))
    print()
    print("dev exact match during training (same config, same steps):")
    print(f"{'step':<10} " + " ".join(f"{s:>7}" for s in steps))
    for attention, curve in curves.items():
        print(f"{attention:<10} " + " ".join(
            f"{curve[s]:>7.1%}" if s in curve else f"{'stop':>7}" for s in steps))

    outputs = {a: translate(r.model, r.task, EXAMPLES) for a, r in runs.items()}
    print()
    print(f"{'locale':<7} {_pad('input', 28)} {'bahdanau':<11} none")
    plots_dir = out / "bahdanau" / "plots"
    plots = []
    for i, (text, locale) in enumerate(EXAMPLES):
        att, base = outputs["bahdanau"][i], outputs["none"][i]
        print(f"{locale:<7} {_pad(text, 28)} {att.output:<11} {base.output}")
        if _plain(text):
            fig = plot_alignment(att.weights.numpy(), att.src_tokens, att.out_tokens,
                                 title=f"{locale}: {text} → {att.output}")
            plots.append(save_figure(fig, plots_dir / f"alignment-{i + 1}-{locale}.png"))
    summary = {"models": rows, "test_exact_match_by_length": {
        a: {b: {"exact_match": acc, "n": n} for b, (acc, n) in buckets.items()}
        for a, buckets in by_length.items()}, "dev_curves": curves, "examples": [
        {"text": t, "locale": loc, **{a: outputs[a][i].output for a in MODELS}}
        for i, (t, loc) in enumerate(EXAMPLES)], "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.perf_counter() - start, 1)}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, ensure_ascii=False))
    print()
    print(f"heatmaps: {plots_dir}/ ({len(plots)} PNG files, e.g. {plots[0].name})")
    print(f"runs: {out / 'bahdanau'} and {out / 'none'}; summary: {out / 'summary.json'}")
    print(f"next: attnkit translate --model {out / 'bahdanau'} --locale de_DE \"3. Mai 1979\"")
    print(f"total time {time.perf_counter() - start:.0f} s")
    return 0
