"""``attnkit translate --model RUN [--locale L] [TEXT ... | stdin] [--attention-plot FILE]``.

One output line per input line, in order, so it works in a pipe. Inputs are checked before any
is translated: an empty line, an over-long line or an unknown locale is an error (exit 1, nothing
printed). Characters never seen in training are read as ``<unk>``: the line is still translated
and a warning names the characters.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..decoding import layer_maps, translate
from ..heads import parse_heads, select_heads
from ..tasks import InputError
from ..training import load_run
from ..viz import plot_alignment, plot_attention_grid, save_figure
from .common import UserError, add_common, add_decoding_arguments, check_decoding_arguments, decoding_kwargs

EPILOG = """examples:
  attnkit translate --model runs/demo/bahdanau --locale de_DE "3. Mai 1979"
  printf '5/3/79\\n3 May 1979\\n' | attnkit translate --model runs/demo/bahdanau --locale en_US
  attnkit translate --model runs/demo/bahdanau "Thursday, May 3, 1979" --attention-plot may3.png
  attnkit translate --model runs/dates-transformer --beam 5 "3 May 1979" --attention-grid grid.png"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("texts", nargs="*", metavar="TEXT",
                        help="sentences to translate (default: read lines from stdin)")
    parser.add_argument("--model", required=True, metavar="RUN", help="trained run folder")
    parser.add_argument("--locale", default="en_US",
                        help="locale of the inputs, e.g. en_GB, de_DE (default: %(default)s)")
    parser.add_argument("--attention-plot", metavar="FILE",
                        help="write the alignment heatmap (PNG); with several inputs, FILE-1.png, ...")
    parser.add_argument("--attention-heads", default="mean", type=_heads, metavar="HEADS",
                        help="multi-head (Transformer) runs: what --attention-plot draws of the last layer's "
                             "cross-attention: 'mean' of the heads or a head index 0, 1, ... (default: %(default)s)")
    parser.add_argument("--attention-grid", metavar="FILE",
                        help="Transformer runs: write per-layer, per-head heatmaps of cross-attention to FILE "
                             "and of self-attention to FILE-encoder-self.png / FILE-decoder-self.png")
    add_decoding_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=512,
                        help="at most this many sentences per batch (default: %(default)s)")
    parser.add_argument("--batch-tokens", type=int, default=8000,
                        help="and at most this many source tokens per batch, padding and beams included "
                             "(default: %(default)s)")
    add_common(parser)


def _heads(text: str):
    try:
        return parse_heads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _plot_paths(path: Path, n: int) -> list[Path]:
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{i}{path.suffix or '.png'}") for i in range(1, n + 1)]


def run(args: argparse.Namespace) -> int:
    run_ = load_run(args.model)
    if args.texts:
        texts = list(args.texts)
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise UserError("no input: give TEXT arguments or pipe lines into stdin", code=2)
        texts = [line.rstrip("\r\n") for line in sys.stdin]
    texts = [t.strip() for t in texts]
    errors = []
    for i, text in enumerate(texts, 1):
        try:
            run_.task.source_tokens(text, args.locale)
        except InputError as err:
            errors.append(f"input {i}: {err}" if len(texts) > 1 else str(err))
    if not texts:
        raise UserError("no input lines")
    if errors:
        raise UserError(errors[0] + (f" (and {len(errors) - 1} more bad inputs)" if len(errors) > 1 else ""))
    check_decoding_arguments(args, run_.model)
    results = translate(run_.model, run_.task, [(t, args.locale) for t in texts],
                        batch_size=args.batch_size, batch_tokens=args.batch_tokens, **decoding_kwargs(args))
    if args.attention_plot and results[0].weights is not None:
        try:
            select_heads(results[0].weights, args.attention_heads)
        except ValueError as err:
            raise UserError(f"--attention-heads: {err}", code=2) from None
    for i, (text, res) in enumerate(zip(texts, results), 1):
        unseen = run_.task.src_vocab.unknown(res.src_tokens)
        if unseen:
            log.warning("input %d: characters never seen in training read as <unk>: %s", i,
                        " ".join(repr(c) for c in unseen))
        print(res.output, flush=False)
    sys.stdout.flush()
    if args.attention_plot:
        if results[0].weights is None:
            raise UserError(f"{args.model} has no attention ({run_.config.model.attention}); "
                            "no alignment to plot")
        for path, res, text in zip(_plot_paths(Path(args.attention_plot), len(results)), results, texts):
            fig = plot_alignment(res.weights.numpy(), res.src_tokens, res.out_tokens, heads=args.attention_heads,
                                 title=f"{text} → {res.output}")
            save_figure(fig, path)
            log.info("alignment heatmap written to %s", path)
    if args.attention_grid:
        _write_grids(run_, Path(args.attention_grid), results, texts)
    return 0


def _write_grids(run_, path: Path, results, texts) -> None:
    if not hasattr(run_.model, "attention_maps"):
        raise UserError(f"{run_.path} is an RNN model with one attention per step; use --attention-plot")
    for base, res, text in zip(_plot_paths(path, len(results)), results, texts):
        maps = layer_maps(run_.model, run_.task, res)
        suffix = base.suffix or ".png"
        figures = {
            base: plot_attention_grid(maps.cross.numpy(), res.src_tokens, res.out_tokens,
                                      title=f"cross-attention: {text} → {res.output}"),
            base.with_name(f"{base.stem}-encoder-self{suffix}"): plot_attention_grid(
                maps.encoder_self.numpy(), res.src_tokens, res.src_tokens, title=f"encoder self-attention: {text}"),
            base.with_name(f"{base.stem}-decoder-self{suffix}"): plot_attention_grid(
                maps.decoder_self.numpy(), ["<s>", *res.out_tokens[:-1]], res.out_tokens,
                title=f"decoder self-attention: {res.output}"),
        }
        for target, fig in figures.items():
            save_figure(fig, target)
            log.info("attention grid written to %s", target)
