"""``attnkit study STUDY ...``: run a documented study end to end and write its report.

Each study is a sub-command with its own flags; the work is done by library code
(``han``: :func:`attnkit.studies.han.run_han_study`; ``length``: :mod:`attnkit.studies.length`).
"""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..io import atomic_write_text
from ..studies.budget import Budget
from . import study_length
from .common import MAX_MINUTES, MAX_THREADS, LazyChoices, UserError, add_common, check_out_folder, number, whole
from .study_flags import add_study_flags, budget_type, study_budget, study_seeds

if TYPE_CHECKING:
    from ..studies.han import DocumentExample

log = logging.getLogger(__name__)

HAN_OUT = "runs/han-bible"
HAN_SEED, HAN_EPOCHS = 1234, 10  # the HAN study's defaults: its seed, and its most epochs without --budget
VISION_OUT = "runs/vision"
DATASETS = LazyChoices("attnkit.studies.vision", "DATASETS")
VARIANTS = LazyChoices("attnkit.studies.vision", "VARIANTS")

EPILOG = """examples:
  attnkit study han                        # HAN vs bag-of-words on the WEB, into runs/han-bible
  attnkit study han --module engKJV2006eb --out runs/han-kjv --budget 2000
  attnkit study vision --budget 2min --seeds 1 2 3"""

_HAN_EPILOG = """example:
  attnkit study han --module engWEB2015eb --out runs/han-bible --seeds 1234 --threads 2

needs the SWORD module (Debian: sudo apt-get install sword-text-web) and scikit-learn
(a dependency of attnkit: pip install scikit-learn); about 10 minutes on 2 CPU cores"""


def _add_han(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--module", default="engWEB2015eb", help="SWORD Bible module to read (default: %(default)s)")
    parser.add_argument("--out", default=HAN_OUT, help="output folder; its parent must exist (default: %(default)s)")
    add_study_flags(parser, default_budget="10 epochs", seeds_default="1234", several_seeds=False)
    parser.add_argument("--epochs", type=whole(1, 100_000), default=None, help=argparse.SUPPRESS)  # deprecated
    parser.add_argument(
        "--threads", type=whole(0, MAX_THREADS), default=2, help="torch CPU threads (default: %(default)s)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_common(parser)


def _render(example: "DocumentExample", path: Path) -> None:
    from ..viz import plot_document_attention, save_figure

    fig = plot_document_attention(
        example.sentences, example.word_weights, example.sentence_weights, title=example.title
    )
    save_figure(fig, path)


def _run_han(args: argparse.Namespace) -> int:
    from ..data.sword import SwordError
    from ..studies.han import StudyError, run_han_study

    if args.threads < 0:
        raise UserError("--threads must be >= 0", code=2)
    (seed,) = study_seeds(args, [HAN_SEED], "han", several=False)
    budget = study_budget(args, None, "han")
    if args.epochs is not None:
        log.warning("attnkit study han: --epochs is deprecated; use --budget STEPS (or --budget Nmin)")
    epochs = args.epochs or HAN_EPOCHS
    check_out_folder(args.out, default=HAN_OUT)
    command = shlex.join(
        [
            "attnkit",
            "study",
            "han",
            "--module",
            args.module,
            "--out",
            args.out,
            "--seeds",
            str(seed),
            *(["--budget", budget.flag()] if budget else []),
            *(["--epochs", str(epochs)] if args.epochs is not None else []),
            "--threads",
            str(args.threads),
        ]
    )
    try:
        metrics = run_han_study(
            args.out,
            module=args.module,
            seed=seed,
            epochs=epochs,
            budget=budget,
            threads=args.threads,
            command=command,
            progress=not args.no_progress,
            render=_render,
        )
    except (SwordError, StudyError) as err:
        raise UserError(str(err)) from None
    han, lr = metrics["han"]["test"], metrics["logreg"]["test"]
    print(
        f"test accuracy: HAN {han['accuracy']:.2%} (macro-F1 {han['macro_f1']:.3f}), "
        f"logistic regression {lr['accuracy']:.2%} (macro-F1 {lr['macro_f1']:.3f})"
    )
    print(f"report: {Path(args.out) / 'report.md'}")
    return 0


_VISION_EPILOG = """example:
  attnkit study vision --out runs/vision --budget 1min --seeds 1 2 3 --threads 2

needs the images (Debian: sudo apt-get install dataset-fashion-mnist); 42 runs of --budget each
plus about 15 s of data and scoring per run; a stopped study resumes where it was"""


def _add_vision(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=VISION_OUT, help="study folder; its parent must exist (default: %(default)s)")
    parser.add_argument(
        "--data",
        nargs="+",
        default=None,
        type=DATASETS,
        metavar="DATA",
        help="data sets: fashion, canvas (default: all)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=None,
        type=VARIANTS,
        metavar="VARIANT",
        help="model variants: cnn, cnn-se, cnn-eca, cnn-cbam, cnn-nonlocal, stn-cnn, vit (default: all)",
    )
    add_study_flags(parser, default_budget="1min", seeds_default="1 2 3", several_seeds=True)
    parser.add_argument(
        "--canvas-budget",
        type=budget_type,
        default=None,
        metavar="BUDGET",
        help="the budget of the canvas runs (default: --budget)",
    )
    parser.add_argument(  # deprecated: --canvas-budget Nmin
        "--canvas-minutes", type=number(0, MAX_MINUTES, above_low=True), default=None, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--threads", type=whole(0, MAX_THREADS), default=2, help="torch CPU threads (default: %(default)s)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a setting of every run (repeatable)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_common(parser)


def _render_vision(out: Path) -> list[Path]:
    from ..studies.vision import attention_examples
    from ..viz import plot_channel_weights, plot_image_attention_grid, plot_spatial_transformer, save_figure

    examples = attention_examples(out)
    written = []
    if examples.overlays:
        images, heats, titles = zip(*examples.overlays)
        written.append(
            save_figure(
                plot_image_attention_grid(list(images), list(heats), list(titles), ncols=3), out / "attention-maps.png"
            )
        )
    if examples.channel_weights is not None:
        weights, labels, classes, title = examples.channel_weights
        fig = plot_channel_weights(weights, labels, classes)
        fig.suptitle(title)
        written.append(save_figure(fig, out / "se-channel-weights.png"))
    if examples.stn is not None:
        inputs, outputs, thetas, title = examples.stn
        fig = plot_spatial_transformer(inputs, outputs, thetas)
        fig.suptitle(title)
        written.append(save_figure(fig, out / "stn-rectified.png"))
    return written


def _run_vision(args: argparse.Namespace) -> int:
    args.data = args.data or list(DATASETS)
    args.variants = args.variants or list(VARIANTS)
    from ..studies.vision import report_lines, run_vision_study

    if args.threads < 0:
        raise UserError("--threads must be >= 0", code=2)
    seeds = study_seeds(args, [1, 2, 3], "vision", several=True)
    budget = study_budget(args, None, "vision") or Budget(minutes=1.0)
    canvas = args.canvas_budget or budget
    if args.canvas_minutes is not None:
        if args.canvas_budget is not None:
            raise UserError("--canvas-minutes is the old spelling of --canvas-budget Nmin; give one", code=2)
        log.warning(
            "attnkit study vision: --canvas-minutes is deprecated; use --canvas-budget %gmin", args.canvas_minutes
        )
        canvas = Budget(minutes=args.canvas_minutes)
    check_out_folder(args.out, default=VISION_OUT)
    command = shlex.join(
        [
            "attnkit",
            "study",
            "vision",
            "--out",
            args.out,
            "--data",
            *args.data,
            "--variants",
            *args.variants,
            "--seeds",
            *map(str, seeds),
            "--budget",
            budget.flag(),
            "--canvas-budget",
            canvas.flag(),
            "--threads",
            str(args.threads),
            *[a for o in args.overrides for a in ("--set", o)],
        ]
    )
    try:
        metrics = run_vision_study(
            args.out,
            datasets=args.data,
            variants=args.variants,
            seeds=seeds,
            budget={"fashion": budget, "canvas": canvas},
            threads=args.threads,
            progress=not args.no_progress,
            command=command,
            overrides=args.overrides,
        )
    except (ConfigError, ValueError) as err:
        raise UserError(str(err)) from None
    out = Path(args.out)
    pictures = _render_vision(out)
    lines = [
        "# Vision study",
        "",
        f"`{command}`",
        "",
        *report_lines(metrics),
        *[f"![{p.stem}]({p.name})" for p in pictures],
    ]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    print("\n".join(report_lines(metrics)))
    print(f"report: {out / 'report.md'}")
    return 0


_STUDIES = {
    "han": (
        _add_han,
        _run_han,
        "Hierarchical Attention Network vs bag-of-words logistic regression on Bible chapters (section of the canon)",
        _HAN_EPILOG,
    ),
    "vision": (
        _add_vision,
        _run_vision,
        "channel, spatial, pixel and patch attention on Fashion-MNIST and "
        "distorted canvases, same wall-clock budget, several seeds",
        _VISION_EPILOG,
    ),
    "length": (
        study_length.add_arguments,
        study_length.run,
        "BLEU against sentence length for translation models with and without attention, same corpus and time budget",
        study_length.EPILOG,
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="study", required=True, metavar="STUDY")
    for name, (add, run_study, help_text, epilog) in _STUDIES.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        add(p)
        p.set_defaults(run_study=run_study)


def run(args: argparse.Namespace) -> int:
    return int(args.run_study(args) or 0)
