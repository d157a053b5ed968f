"""``attnkit study length``: BLEU against sentence length for translation models with and without
attention, trained on the same corpus, vocabulary and wall-clock budget ([Bahdanau15] Fig. 2).

The work is :func:`attnkit.studies.length.run_study` (resumable: run the same command again
after an interruption); this file writes the report: tables, the BLEU-by-length plot, training
curves and example translations with their alignment heatmaps.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ..io import atomic_write_text
from ..studies.budget import Budget
from .common import MAX_JOBS, MAX_THREADS, UserError, add_common, check_out_folder, check_output, load_run, whole
from .study_flags import add_study_flags, study_budget, study_seeds

if TYPE_CHECKING:
    from ..evaluation import BucketScore
    from ..tasks.translation import TranslationTask

DEFAULT_OUT = "runs/length-study"

DEFAULT_MODELS = (
    "configs/bible-none.yaml",
    "configs/bible-bahdanau.yaml",
    "configs/bible-luong-general.yaml",
    "configs/bible-transformer.yaml",
)

EPILOG = """example (about 1 hour on 2 cores, after `attnkit data bible`):
  attnkit study length --budget 30min --jobs 2 --out runs/length-study --report docs/results/length-study.md"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "configs",
        nargs="*",
        metavar="CONFIG",
        default=list(DEFAULT_MODELS),
        help="translation configs, one per model (default: " + " ".join(DEFAULT_MODELS) + ")",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, help="study folder; its parent must exist (default: %(default)s)")
    parser.add_argument(
        "--report",
        default=None,
        help="Markdown report path in an existing folder; its pictures go beside it (default: OUT/length-study.md)",
    )
    add_study_flags(parser, default_budget="30min", seeds_default="each config's train.seed", several_seeds=False)
    parser.add_argument(
        "--jobs", type=whole(1, MAX_JOBS), default=1, help="models trained at once (default: %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=whole(0, MAX_THREADS),
        default=0,
        help="torch threads per model while training (default: cores / jobs)",
    )
    parser.add_argument("--beams", default="1,5", help="beam sizes for the test set (default: %(default)s)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value in every config, e.g. data.corpus=DIR (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_common(parser)


def _budget_words(budget: Budget) -> str:
    """ "30 minutes of wall-clock time" or "5,000 steps"."""
    return f"{budget.minutes:g} minutes of wall-clock time" if budget.minutes is not None else budget.label()


def _buckets(records: list[dict]) -> list[BucketScore]:
    from ..evaluation import BucketScore

    out = []
    for r in records:
        lo, _, hi = r["words"].replace("+", "-").partition("-")
        out.append(BucketScore(r["words"], int(lo), int(hi) if hi else None, r["n"], r["bleu"], r["chrf"]))
    return out


def _fmt(x, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _examples(names: list[str], out: Path, report_dir: Path, stem: str) -> str:
    """Two test sentences (short and long) translated by every model, heatmaps of the attention ones."""
    from ..viz import plot_alignment, save_figure

    runs = {name: load_run(out / name) for name in names}
    first = runs[names[0]]
    test = first.task.load_split(first.path, "test")
    by_len = sorted(range(len(test)), key=lambda i: len(test[i].text.split()))
    short = next((i for i in by_len if len(test[i].text.split()) >= 12), by_len[len(by_len) // 2])
    long = next((i for i in by_len if len(test[i].text.split()) >= 40), by_len[-1])
    picks = [short] if long == short else [short, long]
    lines = []
    for n, i in enumerate(picks, 1):
        ex = test[i]
        lines += [
            f"**Example {n}** ({len(ex.text.split())} source words)\n",
            f"- source: {ex.text}",
            f"- reference: {ex.target}",
        ]
        for name, run in runs.items():
            (tr,) = cast("TranslationTask", run.task).translate(run.model, [(ex.text, "")])  # a translation run
            lines.append(f"- {name}: {tr.output}")
            if tr.weights is not None:
                png = f"{stem}-example{n}-{name}.png"
                fig = plot_alignment(
                    tr.weights.numpy(), tr.src_tokens, tr.out_tokens, title=f"{name}, greedy (example {n})"
                )
                save_figure(fig, report_dir / png)
        pngs = [
            f"![{name}]({stem}-example{n}-{name}.png)"
            for name in names
            if (report_dir / f"{stem}-example{n}-{name}.png").is_file()
        ]
        lines += ["", " ".join(pngs), ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..machine import cpu_model
    from ..studies.length import run_study
    from ..viz import save_figure
    from ..viz.curves import plot_bleu_by_length, plot_training_curves

    if args.jobs < 1 or args.threads < 0:
        raise UserError("--jobs must be >= 1 and --threads >= 0", code=2)
    budget = study_budget(args, None, "length") or Budget(minutes=30.0)
    seeds = None if args.seeds is None and args.seed is None else study_seeds(args, [], "length", several=False)
    overrides = [*args.overrides, *([f"train.seed={seeds[0]}"] if seeds else [])]
    try:
        beams = tuple(int(b) for b in args.beams.split(","))
    except ValueError:
        raise UserError(f"--beams takes comma-separated integers such as 1,5; got {args.beams!r}", code=2) from None
    names = [Path(c).stem.removeprefix("bible-") for c in args.configs]
    if len(set(names)) != len(names):
        raise UserError("two configs have the same name; give each its own file name", code=2)
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    out = check_out_folder(args.out, default=DEFAULT_OUT)
    if args.report:
        check_output(args.report, "--report")
    result = run_study(
        dict(zip(names, args.configs)),
        out,
        minutes=budget,
        jobs=args.jobs,
        threads=threads,
        overrides=tuple(overrides),
        beams=beams,
        progress=not args.no_progress,
    )
    report = Path(args.report) if args.report else out / "length-study.md"
    report.parent.mkdir(exist_ok=True)  # OUT, when the report goes to its default place
    stem = report.stem
    models = result["models"]
    best_beam = str(max(beams))
    series = {n: _buckets(m["eval"]["beams"][best_beam]["by_length"]) for n, m in models.items()}
    save_figure(
        plot_bleu_by_length(series, title=f"BLEU by source length (test, beam {best_beam})"),
        report.parent / f"{stem}-bleu-by-length.png",
    )
    save_figure(
        plot_training_curves({n: m["history"] for n, m in models.items()}, title="dev BLEU (greedy)"),
        report.parent / f"{stem}-curves.png",
    )
    cfg = load_config(args.configs[0], list(args.overrides))
    corpus = Path(cfg.data.corpus)
    manifest = json.loads((corpus / "manifest.json").read_text()) if (corpus / "manifest.json").is_file() else {}
    command = shlex.join(
        [
            "attnkit",
            "study",
            "length",
            *args.configs,
            "--budget",
            budget.flag(),
            *(["--seeds", str(seeds[0])] if seeds else []),
            "--jobs",
            str(args.jobs),
            "--threads",
            str(threads),
            "--beams",
            args.beams,
            "--out",
            args.out,
            "--report",
            str(report),
            *[x for o in args.overrides for x in ("--set", o)],
        ]
    )
    head = [
        "| model | steps | training min | best dev BLEU | "
        + " | ".join(f"test BLEU b{k} | chrF b{k} | sent/s b{k}" for k in beams)
        + " |",
        "| --- | ---: | ---: | ---: | " + " | ".join("---: | ---: | ---:" for _ in beams) + " |",
    ]
    rows = [
        f"| {n} | {m['train']['steps']} | {m['train']['seconds'] / 60:.1f} | {m['train']['best_dev_bleu']:.2f} | "
        + " | ".join(
            f"{m['eval']['beams'][str(k)]['bleu']:.2f} | {m['eval']['beams'][str(k)]['chrf']:.2f} | "
            f"{m['eval']['beams'][str(k)]['sentences_per_s']:.1f}"
            for k in beams
        )
        + " |"
        for n, m in models.items()
    ]
    labels = [b["words"] for b in next(iter(models.values()))["eval"]["beams"][best_beam]["by_length"]]
    counts = [b["n"] for b in next(iter(models.values()))["eval"]["beams"][best_beam]["by_length"]]
    bucket_rows = [
        "| model | " + " | ".join(f"{lab} ({c})" for lab, c in zip(labels, counts)) + " |",
        "| --- | " + " | ".join("---:" for _ in labels) + " |",
    ]
    bucket_rows += [
        f"| {n} | " + " | ".join(_fmt(b["bleu"]) for b in m["eval"]["beams"][best_beam]["by_length"]) + " |"
        for n, m in models.items()
    ]
    sig = next(iter(models.values()))["eval"]["beams"][best_beam]
    text = "\n".join(
        [
            "# Attention and sentence length: Spanish → English Bible",
            "",
            f"{datetime.date.today()}; {cpu_model()}, {os.cpu_count()} cores; {args.jobs} model(s) trained at a time "
            f"with {threads} thread(s) each, {_budget_words(budget)} of training each "
            "(validation included); "
            f"test decoding afterwards, one model at a time, with {threads * args.jobs} threads.",
            "",
            "Command (resumable: run it again after an interruption):",
            "",
            "```bash",
            command,
            "```",
            "",
            f"Corpus: `{corpus}`" + (f" — {manifest.get('counts', '')}" if manifest else "") + f"; subwords: "
            f"{cfg.data.subword} {cfg.data.vocab_size} per side, trained on the training split (the same for every "
            "model). Test set: " + f"{next(iter(models.values()))['eval']['n']} sentences.",
            "",
            "## Overall",
            "",
            *head,
            *rows,
            "",
            f"BLEU and chrF by sacrebleu on detokenised text: `{sig['bleu_signature']}`, `{sig['chrf_signature']}`.",
            "",
            f"## BLEU by source length (words; test sentences per bucket; beam {best_beam})",
            "",
            *bucket_rows,
            "",
            f"![BLEU by source length]({stem}-bleu-by-length.png)",
            "",
            "## Training curves",
            "",
            f"![dev BLEU against training time]({stem}-curves.png)",
            "",
            "## Examples (greedy)",
            "",
            _examples(list(models), out, report.parent, stem),
            "",
        ]
    )
    atomic_write_text(report, text)
    print("\n".join([*head, *rows]))
    print(f"\nreport: {report}")
    return 0
