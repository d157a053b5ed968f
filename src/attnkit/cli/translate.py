"""``attnkit translate --model RUN [--locale L] [TEXT ... | stdin] [--output FILE] [--n-best-file FILE]``.

One output line per input line, in order, so it works in a pipe; a blank input line gives a blank
output line. Inputs are checked before any is translated: an over-long line or an unknown locale
is an error (exit 1, nothing printed). Characters never seen in training are read as ``<unk>``:
the line is still translated and a warning names the characters.

``--output FILE`` writes the output lines to FILE instead of stdout, atomically (all or nothing).
``--n-best-file FILE`` writes the n-best list of every input in the Moses format, one hypothesis a
line, best first, the inputs in order and numbered from 0 (the 1-best translations still go to
stdout or ``--output``)::

    0 ||| the first hypothesis of input 0 ||| -1.2345
    0 ||| its second hypothesis ||| -2.0412
    1 ||| ...

The score is the hypothesis's sum of log-probabilities (natural log, ``</s>`` included); a blank
input has one line with an empty hypothesis and score 0. Without ``--n-best N`` the list holds
``--beam`` hypotheses per input (one when decoding greedily).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ..errors import InputError
from ..io import atomic_write_text
from .common import UserError, add_common, check_output, decode_options, device_of, load_run, require_translation
from .predict import _check_plot_paths as check_plot_paths  # the same checks as predict's
from .predict import add_output_arguments, draw_plots, output_lines, plot_paths, predict_checked, read_inputs

EPILOG = """examples:
  attnkit translate --model runs/demo/bahdanau --locale de_DE "3. Mai 1979"
  printf '5/3/79\\n3 May 1979\\n' | attnkit translate --model runs/demo/bahdanau --locale en_US
  attnkit translate --model runs/demo/bahdanau "Thursday, May 3, 1979" --attention-plot may3.png
  attnkit translate --model runs/dates-transformer --beam 5 "3 May 1979" --attention-grid grid.png
  attnkit translate --model runs/bible-transformer --beam 5 --n-best-file nbest.txt --output out.txt < test.es"""

if TYPE_CHECKING:
    from ..tasks.seq2seq import Seq2SeqTask

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
    parser.add_argument(
        "--engine",
        choices=("attnkit", "ctranslate2"),
        default="attnkit",
        help="ctranslate2: translate with the run's export (`attnkit export RUN --format ctranslate2`), "
        "its attention the exported layer and head",
    )
    parser.add_argument(
        "--export", metavar="DIR", help="with --engine ctranslate2: the export folder (default: RUN/export/ctranslate2)"
    )
    parser.add_argument(
        "--output", metavar="FILE", help="write the translations to FILE (atomically) instead of stdout"
    )
    parser.add_argument(
        "--n-best-file",
        metavar="FILE",
        help="write every input's n-best list to FILE, Moses format 'INPUT ||| HYPOTHESIS ||| SCORE' "
        "(INPUT numbered from 0, SCORE the sum of log-probabilities); --n-best N hypotheses per input "
        "(default: the beam size)",
    )
    add_output_arguments(parser)
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    """``predict`` for text tasks, with ``--locale``, ``--attention-grid``, ``--output`` and
    ``--n-best-file``; blank lines pass through as blank outputs."""
    for flag, path in (("--output", args.output), ("--n-best-file", args.n_best_file)):
        if path:
            check_output(path, flag, args.texts)
    if args.output and args.n_best_file and Path(args.output).resolve() == Path(args.n_best_file).resolve():
        raise UserError("--output and --n-best-file name the same file; give two files", code=2)
    run_ = load_run(args.model, device=device_of(args))
    require_translation(run_, "translate")
    texts = read_inputs(args, args.texts)
    options = {} if args.locale is None else {"locale": args.locale}
    if args.attention_grid:
        check_output(args.attention_grid, "--attention-grid", texts, plot=True)
    kept = [i for i, text in enumerate(texts) if text]  # blank lines are not translated
    sources = [texts[i] for i in kept]
    if args.n_best_file and args.decode_n_best is None and (args.decode_beam_size or 1) > 1:
        args.decode_n_best = args.decode_beam_size  # the file holds the whole beam unless --n-best says otherwise
    try:
        if args.engine == "ctranslate2":
            results, decode = _engine_results(args, run_, sources, options) if sources else ([], None)
        else:
            results, decode = predict_checked(args, run_, sources, options) if sources else ([], None)
    except InputError as err:
        raise UserError(str(err)) from None
    n_best = decode.n_best if decode else 1
    # with --n-best-file, the n-best lists go to the file and the 1-best lines to stdout / --output
    stdout_n_best = 1 if args.n_best_file else n_best
    by_input = {
        i: output_lines(args, run_, [text], [res], stdout_n_best) for i, text, res in zip(kept, sources, results)
    }
    blank = [_blank_json()] if args.json else [""]
    out = [line for i in range(len(texts)) for line in by_input.get(i, blank)]
    if args.n_best_file:
        nbest = {i: res.nbest or (res,) for i, res in zip(kept, results)}
        atomic_write_text(args.n_best_file, "".join(_nbest_lines(i, nbest.get(i, ())) for i in range(len(texts))))
        log.info("n-best lists written to %s", args.n_best_file)
    if args.output:
        atomic_write_text(args.output, "".join(f"{line}\n" for line in out))
        log.info("translations written to %s", args.output)
    else:
        sys.stdout.write("".join(f"{line}\n" for line in out))
        sys.stdout.flush()
    draw_plots(args, sources, results)
    task = cast("Seq2SeqTask", run_.task)  # a text task that translates (its predictions are Translations)
    for i, res in zip(kept, results):
        unseen = task.src_vocab.unknown(res.src_tokens)
        if unseen:
            log.warning(
                "input %d: characters never seen in training read as <unk>: %s",
                i + 1,
                " ".join(repr(c) for c in unseen),
            )
    if args.attention_grid:
        _write_grids(run_, Path(args.attention_grid), results, sources)
    return 0


def _engine_results(args: argparse.Namespace, run_, sources: list[str], options: dict[str, str]):
    """The CTranslate2 export's translations and the decoding options of the flags."""
    from ..decoding import DecodeOptions
    from ..export.ctranslate2 import translate

    check_plot_paths(args, sources)
    decode = decode_options(args, run_) or DecodeOptions()
    device = str(next(run_.model.parameters()).device)  # --device: where the run was loaded
    return translate(run_, sources, options=options, decode=decode, export_dir=args.export, device=device), decode


def _blank_json() -> str:
    """The ``--json`` line of a blank input: no prediction, an empty output."""
    return json.dumps({"input": "", "kind": None, "output": ""})


def _nbest_lines(index: int, hypotheses) -> str:
    """Moses n-best lines of input `index` (from 0): ``INDEX ||| HYPOTHESIS ||| SCORE``, best
    first; a blank input (no hypotheses) gets one line with an empty hypothesis and score 0."""
    if not hypotheses:
        return f"{index} |||  ||| 0.0000\n"
    return "".join(f"{index} ||| {_one_line(hyp.output)} ||| {hyp.score:.4f}\n" for hyp in hypotheses)


def _one_line(text: str) -> str:
    """A hypothesis on one line, with no field separator inside it."""
    return " ".join(text.split()).replace("|||", "| | |")


def _write_grids(run_, path: Path, results, texts) -> None:
    from ..decoding import layer_maps
    from ..viz import plot_attention_grid, save_figure

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
