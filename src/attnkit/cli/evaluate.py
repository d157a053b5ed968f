"""``attnkit evaluate --model RUN [--split test]``: score a run on one of its splits with its task's
metrics: exact match and alignment accuracy (dates), BLEU/chrF with their sacrebleu signatures and
BLEU per source-length bucket (translation), accuracy and macro-F1 (classification), ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import align_cmd
from .common import UserError, add_common, add_decoding_arguments, check_output, decode_options, device_of, load_run

EPILOG = """examples:
  attnkit evaluate --model runs/demo/bahdanau
  attnkit evaluate --model runs/bible-transformer --beam 5 --json
  attnkit evaluate --model runs/fashion-cnn-cbam --detailed --confusion-plot confusion.png
  attnkit evaluate --links corpora/alignments.SBLGNT-BSB/test.eflomal.pharaoh \\
      --gold corpora/alignments.SBLGNT-BSB/test.gold.pharaoh
  attnkit evaluate --model runs/grc-en-transformer --split dev --choose   # AER: layer/head on the dev gold
  attnkit evaluate --model runs/grc-en-transformer --explain alti --layer -1   # AER of ALTI+ instead of attention"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="RUN", help="trained run folder")
    parser.add_argument(
        "--split",
        default="test",
        choices=["train", "dev", "test"],
        help="which of the run's splits (default: %(default)s)",
    )
    add_decoding_arguments(parser, exclude=("n_best",))  # the score is of the best hypothesis
    parser.add_argument(
        "--detailed",
        "--by-locale",
        dest="detailed",
        action="store_true",
        help="also print the task's breakdown (per locale, per class)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.add_argument(
        "--confusion-plot",
        metavar="FILE",
        help="classification tasks: write the confusion matrix as a picture (PNG, SVG, PDF)",
    )
    align_cmd.add_evaluate_arguments(parser)
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    if align_cmd.wants_alignment(args):
        return align_cmd.run_evaluate(args)
    if not args.model:
        raise UserError("give --model RUN", code=2)
    from ..training import RunError
    from ..viz import plot_confusion, save_figure

    run_ = load_run(args.model, device=device_of(args))
    try:
        examples = run_.task.load_split(run_.path, args.split)
    except (OSError, ValueError) as err:
        raise RunError(f"run folder {run_.path} has no readable {args.split} split: {err}") from None
    decode = decode_options(args, run_)
    if args.confusion_plot:
        check_output(args.confusion_plot, "--confusion-plot", plot=True)
    if args.confusion_plot and not run_.capabilities.task.classes:
        raise UserError(f"--confusion-plot: task {run_.config.data.task} is not a classification task", code=2)
    metrics, _ = run_.task.evaluate(run_.model, examples, **({"decode": decode} if decode else {}))
    if args.confusion_plot:
        fig = plot_confusion(
            metrics["confusion"],
            metrics["classes"],
            title=f"{run_.label}, {args.split} split: accuracy {metrics['accuracy']:.2%}",
        )
        save_figure(fig, Path(args.confusion_plot))
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(f"{run_.path} ({run_.label}), {args.split} split:")
    for line in run_.task.report(metrics, detailed=args.detailed):
        print(line)
    return 0
