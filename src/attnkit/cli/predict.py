"""``attnkit predict --model RUN [INPUT ... | stdin] [--option KEY=VALUE] [--attention-plot FILE]``.

Raw inputs in, one output line per input, in order, so it works in a pipe; every task takes its
own kind of input (a line of text for the text tasks). All inputs are checked before any is
predicted: a bad one is an error (exit 1, nothing printed). ``--attention-plot`` draws where
the model looked for each input (:func:`attnkit.viz.plot_prediction`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..decoding import Translation
from ..errors import InputError
from ..heads import parse_heads, select_heads
from ..training import load_run
from ..viz import plot_prediction, save_figure
from .common import UserError, add_common, add_decoding_arguments, decode_options, device_of

EPILOG = """examples:
  attnkit predict --model runs/demo/bahdanau --option locale=de_DE "3. Mai 1979"
  echo "En el principio crió Dios los cielos y la tierra." | attnkit predict --model runs/bible-transformer --beam 5
  attnkit predict --model runs/bible-sections-han "The Lord is my shepherd; I shall not want." --attention-plot ps.png"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="inputs (default: read lines from stdin)")
    parser.add_argument("--model", required=True, metavar="RUN", help="trained run folder")
    parser.add_argument("--option", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="an input option of the run's task, e.g. locale=de_DE for dates (repeatable)")
    add_output_arguments(parser)
    add_common(parser)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--attention-plot`` and the decoding flags, shared with ``translate``."""
    parser.add_argument("--attention-plot", metavar="FILE",
                        help="write where the model looked (PNG); with several inputs, FILE-1.png, ...")
    parser.add_argument("--attention-heads", default="mean", type=_heads, metavar="HEADS",
                        help="multi-head models: draw the 'mean' of the heads or one head 0, 1, ... "
                             "(default: %(default)s)")
    add_decoding_arguments(parser)


def _heads(text: str):
    try:
        return parse_heads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def read_inputs(args: argparse.Namespace, given: list[str]) -> list[str]:
    """The inputs from the command line, else stdin's lines, stripped."""
    if given:
        texts = list(given)
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("no input: give INPUT arguments or pipe lines into stdin", code=2)
        texts = [line.rstrip("\r\n") for line in sys.stdin]
    if not texts:
        raise UserError("no input lines")
    return [t.strip() for t in texts]


def parse_options(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--option {item!r} must look like KEY=VALUE, e.g. locale=de_DE", code=2)
        out[key] = value
    return out


def plot_paths(path: Path, n: int) -> list[Path]:
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix or '.png'}") for i in range(1, n + 1)]


def predict_and_print(args: argparse.Namespace, run_, inputs: list[str], options: dict[str, str]):
    """Predict, print one line per input, draw the attention if asked; returns the predictions."""
    decode = decode_options(args, run_)
    # decode= only when a flag was given: a plug-in of attnkit 0.1 that takes no such keyword still predicts
    results = run_.task.predict(run_.model, inputs, options=options, **({"decode": decode} if decode else {}))
    if args.attention_plot:  # a head that does not exist is a usage error, before anything is printed
        for res in results:
            weights = getattr(res, "weights", None)
            edge_weights = getattr(res, "edge_weights", None)
            if edge_weights:  # graph attention: (K, Nh) per layer, heads of the last layer drawn
                weights = edge_weights[-1].T.unsqueeze(1)
            if weights is not None and getattr(weights, "dim", lambda: 0)() == 3:
                try:
                    select_heads(weights, args.attention_heads)
                except ValueError as err:
                    raise UserError(f"--attention-heads: {err}", code=2) from None
    for res in results:
        for line in _lines(res, decode.n_best if decode else 1):
            print(line, flush=False)
    sys.stdout.flush()
    if args.attention_plot:
        for path, res, text in zip(plot_paths(Path(args.attention_plot), len(results)), results, inputs):
            try:
                fig = plot_prediction(res, title=f"{text} → {res.output}", heads=args.attention_heads)
            except ValueError as err:
                raise UserError(f"{args.model}: {err}") from None
            save_figure(fig, path)
            log.info("attention picture written to %s", path)
    return results


def _lines(res, n_best: int) -> list[str]:
    """The printed lines of a prediction: its output, or with ``--n-best`` > 1 one line per
    hypothesis of its n-best list, best first, as ``RANK<TAB>SCORE<TAB>OUTPUT``."""
    nbest = res.nbest if isinstance(res, Translation) else ()
    if n_best < 2 or not nbest:
        return [res.output]
    return [f"{rank}\t{hyp.score:.4f}\t{hyp.output}" for rank, hyp in enumerate(nbest, 1)]


def run(args: argparse.Namespace) -> int:
    run_ = load_run(args.model, device=device_of(args))
    inputs = read_inputs(args, args.inputs)
    options = parse_options(args.options)
    try:
        predict_and_print(args, run_, inputs, options)
    except InputError as err:
        raise UserError(str(err)) from None
    return 0
