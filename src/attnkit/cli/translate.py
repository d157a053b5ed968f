"""``attnkit translate --model RUN [--locale L] [TEXT ... | stdin] [--attention-plot FILE]``.

One output line per input line, in order, so it works in a pipe. Inputs are checked before any
is translated: an empty line, an over-long line or an unknown locale is an error (exit 1, nothing
printed). Characters never seen in training are read as ``<unk>``: the line is still translated
and a warning names the characters.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import cast

from ..decoding import layer_maps
from ..errors import InputError
from ..tasks.seq2seq import Seq2SeqTask
from ..training import load_run
from ..viz import plot_attention_grid, save_figure
from .common import UserError, add_common, check_output, device_of, require_translation
from .predict import add_output_arguments, plot_paths, predict_and_print, read_inputs

EPILOG = """examples:
  attnkit translate --model runs/demo/bahdanau --locale de_DE "3. Mai 1979"
  printf '5/3/79\\n3 May 1979\\n' | attnkit translate --model runs/demo/bahdanau --locale en_US
  attnkit translate --model runs/demo/bahdanau "Thursday, May 3, 1979" --attention-plot may3.png
  attnkit translate --model runs/dates-transformer --beam 5 "3 May 1979" --attention-grid grid.png"""

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "texts", nargs="*", metavar="TEXT", help="sentences to translate (default: read lines from stdin)"
    )
    parser.add_argument("--model", required=True, metavar="RUN", help="trained run folder")
    parser.add_argument(
        "--locale", default=None, help="dates: locale of the inputs, e.g. en_GB, de_DE (default: en_US)"
    )
    parser.add_argument(
        "--attention-grid",
        metavar="FILE",
        help="Transformer runs: write per-layer, per-head heatmaps of cross-attention to FILE "
        "and of self-attention to FILE-encoder-self.png / FILE-decoder-self.png",
    )
    add_output_arguments(parser)
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """``predict`` for text tasks, with ``--locale`` and ``--attention-grid``."""
    run_ = load_run(args.model, device=device_of(args))
    require_translation(run_, "translate")
    texts = read_inputs(args, args.texts)
    options = {} if args.locale is None else {"locale": args.locale}
    if args.attention_grid:
        check_output(args.attention_grid, "--attention-grid", texts, plot=True)
    try:
        results = predict_and_print(args, run_, texts, options)
    except InputError as err:
        raise UserError(str(err)) from None
    task = cast(Seq2SeqTask, run_.task)  # a text task that translates (its predictions are Translations)
    for i, res in enumerate(results, 1):
        unseen = task.src_vocab.unknown(res.src_tokens)
        if unseen:
            log.warning(
                "input %d: characters never seen in training read as <unk>: %s", i, " ".join(repr(c) for c in unseen)
            )
    if args.attention_grid:
        _write_grids(run_, Path(args.attention_grid), results, texts)
    return 0


def _write_grids(run_, path: Path, results, texts) -> None:
    if not run_.capabilities.layer_maps:
        raise UserError(f"{run_.path} is an RNN model with one attention per step; use --attention-plot")
    for base, res, text in zip(plot_paths(path, len(results)), results, texts):
        maps = layer_maps(run_.model, res.src_ids, res.out_ids)
        suffix = base.suffix or ".png"
        figures = {
            base: plot_attention_grid(
                maps.cross.numpy(), res.src_tokens, res.out_tokens, title=f"cross-attention: {text} → {res.output}"
            ),
            base.with_name(f"{base.stem}-encoder-self{suffix}"): plot_attention_grid(
                maps.encoder_self.numpy(), res.src_tokens, res.src_tokens, title=f"encoder self-attention: {text}"
            ),
            base.with_name(f"{base.stem}-decoder-self{suffix}"): plot_attention_grid(
                maps.decoder_self.numpy(),
                ["<s>", *res.out_tokens[:-1]],
                res.out_tokens,
                title=f"decoder self-attention: {res.output}",
            ),
        }
        for target, fig in figures.items():
            save_figure(fig, target)
            log.info("attention grid written to %s", target)
