"""``attnkit evaluate --model RUN [--split test]``: exact match and alignment accuracy (dates), or
BLEU/chrF with their sacrebleu signatures and BLEU per source-length bucket (translation)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

from ..evaluation import bleu_by_length, evaluate_examples, exact_match, format_scores_table
from ..training import RunError, load_run
from .common import add_common, add_decoding_arguments, check_decoding_arguments, decoding_kwargs

EPILOG = """example:
  attnkit evaluate --model runs/demo/bahdanau"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="trained run folder")
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"],
                        help="which of the run's splits (default: %(default)s)")
    add_decoding_arguments(parser)
    parser.add_argument("--by-locale", action="store_true", help="also print exact match per locale")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    run_ = load_run(args.model)
    try:
        examples = run_.task.load_split(run_.path, args.split)
    except (OSError, ValueError) as err:
        raise RunError(f"run folder {run_.path} has no readable {args.split} split: {err}") from None
    check_decoding_arguments(args, run_.model)
    metrics, translations = evaluate_examples(run_.model, run_.task, examples, **decoding_kwargs(args))
    if "bleu" in metrics:
        return _print_translation(args, metrics, examples, translations)
    by_locale: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for ex, tr in zip(examples, translations):
        by_locale[ex.locale][0].append(tr.output)
        by_locale[ex.locale][1].append(ex.target)
    if args.json:
        if args.by_locale:
            metrics["by_locale"] = {k: exact_match(*v) for k, v in sorted(by_locale.items())}
        print(json.dumps(metrics))
        return 0
    print(f"{args.split + ' examples:':<20}{metrics['n']}")
    print(f"{'exact match:':<20}{metrics['exact_match']:.2%}")
    if "alignment_accuracy" in metrics:
        print(f"{'alignment accuracy:':<20}{metrics['alignment_accuracy']:.2%} "
              f"({metrics['n_aligned']} output digits whose most-attended source character lies "
              "in the gold year/month/day span)")
        print(f"{'zero weights:':<20}{metrics['zero_weight_share']:.2%} of all alignment weights are exactly 0")
    else:
        print(f"{'alignment accuracy:':<20}n/a (model {run_.config.model.attention!r} has no attention)")
    if args.by_locale:
        for loc, (hyps, refs) in sorted(by_locale.items()):
            print(f"  {loc}: {exact_match(hyps, refs):.2%} of {len(refs)}")
    return 0


def _print_translation(args: argparse.Namespace, metrics: dict, examples, translations) -> int:
    buckets = bleu_by_length([e.text for e in examples], [t.output for t in translations],
                             [e.target for e in examples])
    if args.json:
        metrics["by_length"] = [{"words": b.label, "n": b.n, "bleu": b.bleu, "chrf": b.chrf} for b in buckets]
        print(json.dumps(metrics))
        return 0
    print(f"{args.split + ' sentences:':<16}{metrics['n']}")
    print(f"{'BLEU:':<16}{metrics['bleu']:.2f}  ({metrics['bleu_signature']})")
    print(f"{'chrF:':<16}{metrics['chrf']:.2f}  ({metrics['chrf_signature']})")
    print("\nBLEU by source length (words):\n")
    print(format_scores_table(buckets))
    return 0
