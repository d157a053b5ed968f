"""``attnkit predict --model RUN [INPUT ... | stdin] [--option KEY=VALUE] [--attention-plot FILE] [--json]``.

Raw inputs in, one output line per input, in order, so it works in a pipe; every task takes its
own kind of input (a line of text for the text tasks). All inputs are checked before any is
predicted: a bad one is an error (exit 1, nothing printed). ``--attention-plot`` draws where
the model looked for each input, by the view of the prediction's kind
(:data:`attnkit.viz.views.VIEWS`); ``--json`` prints one JSON object per input instead (JSON
lines): ``{"input", "kind", "output", ...}`` with the view's JSON of the prediction (all of its
attention, with the tokens or positions it refers to) and, for models with per-layer maps,
``"layers"``: every layer's and head's maps (``cross``, ``encoder_self``, ``decoder_self``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..decoding import Translation, layer_maps
from ..errors import InputError
from ..heads import HeadChoice, parse_heads
from ..training import load_run
from ..viz import Budget, prediction_json, save_figure, view_of
from .common import UserError, add_common, add_decoding_arguments, check_output, decode_options, device_of

EPILOG = """examples:
  attnkit predict --model runs/demo/bahdanau --option locale=de_DE "3. Mai 1979"
  echo "En el principio crió Dios los cielos y la tierra." | attnkit predict --model runs/bible-transformer --beam 5
  attnkit predict --model runs/bible-sections-han "The Lord is my shepherd; I shall not want." --attention-plot ps.png
  attnkit predict --model runs/bible-transformer --json "In the beginning God created the heaven and the earth."
"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="inputs (default: read lines from stdin)")
    parser.add_argument("--model", required=True, metavar="RUN", help="trained run folder")
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input option of the run's task, e.g. locale=de_DE for dates (repeatable)",
    )
    add_output_arguments(parser)
    add_common(parser)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--attention-plot`` and the decoding flags, shared with ``translate``."""
    parser.add_argument(
        "--attention-plot",
        metavar="FILE",
        help="write where the model looked, in the format of FILE's extension (.png, .svg, .pdf, ...); "
        "with several inputs, FILE-1.png, ...",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per input (JSON lines): input, kind, output and all of its "
        "attention with the tokens or positions it refers to",
    )
    parser.add_argument(
        "--attention-heads",
        default="mean",
        type=_heads,
        metavar="HEADS",
        help="multi-head models: draw the 'mean' of the heads or one head 0, 1, ... (default: %(default)s)",
    )
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
    """Predict, print one line (or one JSON object) per input, draw the attention if asked;
    returns the predictions."""
    _check_plot_paths(args, inputs)
    decode = decode_options(args, run_)
    results = run_.predict(inputs, options=options, decode=decode)  # the Python API's own call
    if args.attention_plot:  # a head that does not exist is a usage error, before anything is printed
        for res in results:
            check_heads(res, args.attention_heads)
    n_best = decode.n_best if decode else 1
    lines = (
        [json.dumps(prediction_record(run_, text, res), ensure_ascii=False) for text, res in zip(inputs, results)]
        if args.json
        else [line for res in results for line in _lines(res, n_best)]
    )
    for line in lines:
        print(line, flush=False)
    sys.stdout.flush()
    if args.attention_plot:
        for path, res, text in zip(plot_paths(Path(args.attention_plot), len(results)), results, inputs):
            try:
                fig = view_of(res).plot(res, f"{text} → {res.output}", args.attention_heads)
            except ValueError as err:
                raise UserError(f"{args.model}: {err}") from None
            save_figure(fig, path)
            log.info("attention picture written to %s", path)
    return results


def check_heads(prediction: Any, heads: HeadChoice) -> None:
    """A usage error (exit 2) for a head index the prediction's multi-head attention lacks."""
    try:
        n = view_of(prediction).n_heads(prediction)
    except ValueError as err:  # no view of this prediction: the plot says so
        log.debug("no head check: %s", err)
        return
    if n > 0 and isinstance(heads, int) and not 0 <= heads < n:  # per-head attention, (Nh, ...)
        raise UserError(
            f"--attention-heads: head {heads} is out of range: these weights have {n} heads; "
            f"pass a head index 0..{n - 1} or 'mean'",
            code=2,
        )


def prediction_record(run_, text: str, prediction: Any) -> dict[str, Any]:
    """One line of ``--json``: the input, the prediction's kind, output and its view's JSON, and
    for a model with per-layer maps every layer's and head's maps of the output."""
    try:
        record = {"input": text, **prediction_json(prediction, Budget())}
    except ValueError as err:
        raise UserError(f"{run_.path}: --json: {err}") from None
    if run_.capabilities.layer_maps and isinstance(prediction, Translation):
        maps = layer_maps(run_.model, prediction.src_ids, prediction.out_ids)
        budget = Budget()
        record["layers"] = {
            "cross": budget.matrix(maps.cross),
            "encoder_self": budget.matrix(maps.encoder_self),
            "decoder_self": budget.matrix(maps.decoder_self),
        }
    return record


def _lines(res, n_best: int) -> list[str]:
    """The printed lines of a prediction: its output, or with ``--n-best`` > 1 one line per
    hypothesis of its n-best list, best first, as ``RANK<TAB>SCORE<TAB>OUTPUT``."""
    nbest = res.nbest if isinstance(res, Translation) else ()
    if n_best < 2 or not nbest:
        return [res.output]
    return [f"{rank}\t{hyp.score:.4f}\t{hyp.output}" for rank, hyp in enumerate(nbest, 1)]


def _check_plot_paths(args: argparse.Namespace, inputs: list[str]) -> None:
    """Before any work: a picture never overwrites an input, and no folder is made for it."""
    if args.attention_plot:
        for path in plot_paths(Path(args.attention_plot), len(inputs)):
            check_output(path, "--attention-plot", inputs, plot=True)


def run(args: argparse.Namespace) -> int:
    if args.inputs:  # inputs on the command line: check the picture's path before loading anything
        _check_plot_paths(args, [t.strip() for t in args.inputs])
    run_ = load_run(args.model, device=device_of(args))
    inputs = read_inputs(args, args.inputs)
    options = parse_options(args.options)
    try:
        predict_and_print(args, run_, inputs, options)
    except InputError as err:
        raise UserError(str(err)) from None
    return 0
