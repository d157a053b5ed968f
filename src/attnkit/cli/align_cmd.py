"""``attnkit align``: word alignments from a translation model's attention; and the alignment side
of ``attnkit evaluate`` (``--gold``, ``--links``, ``--choose``).

The model is fed the target sentence by teacher forcing (force decoding) and its cross-attention
is turned into word links (:mod:`attnkit.evaluation.word_alignment`): the layer, head, link method
and source pooling come from the run (``alignment.json``, chosen on the dev gold with
``attnkit evaluate --split dev --choose``), else from the flags. With ``--reverse RUN2`` (a run of
the other direction, e.g. ``data.reverse: true``) both directions are aligned and symmetrised.
With ``--explain NAME`` (rollout, flow, norm, alti, grad; :mod:`attnkit.models.explain`) the links
are read from that explanation's source maps instead of the raw cross-attention
(:func:`attnkit.decoding.explained_weights`: its per-layer maps, then its aggregate as layer -1);
``--choose`` then prints the best reading without keeping it (``alignment.json`` stays the raw
attention's), so pass it as flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ..capabilities import GoldKind
from ..errors import InputError
from ..heads import parse_heads, select_heads
from .common import LazyChoices, UserError, add_common, check_output, device_of, load_run, require_translation

if TYPE_CHECKING:
    from ..evaluation.word_alignment import AlignmentChoice
    from ..tasks.base import AlignmentChoiceTask
    from ..tasks.seq2seq import Seq2SeqTask
    from ..training import Run

# the names the flags take, read when a value is checked (the library needs torch)
LINK_METHODS = LazyChoices("attnkit.evaluation.word_alignment", "LINK_METHODS")
POOLINGS = LazyChoices("attnkit.evaluation.word_alignment", "POOLINGS")
EXPLANATIONS = LazyChoices("attnkit.models.explain", "EXPLANATIONS")
SYMMETRISATIONS = LazyChoices("attnkit.evaluation.alignment", "SYMMETRISATIONS")

EPILOG = """examples:
  attnkit align --model runs/grc-en-transformer --input test.src --target test.tgt --output links.pharaoh
  attnkit align --model runs/grc-en-transformer --reverse runs/en-grc-transformer \\
                --input test.src --target test.tgt --output links.pharaoh --symmetrisation grow-diag-final-and
  attnkit evaluate --model runs/grc-en-transformer --split dev --choose        # layer/head on the dev gold
  attnkit evaluate --model runs/grc-en-transformer --gold corpora/alignments.SBLGNT-BSB/test.gold.pharaoh
  attnkit evaluate --model runs/grc-en-transformer --split dev --choose --explain alti   # ALTI+ instead of attention
  attnkit evaluate --model runs/grc-en-transformer --explain alti --layer -1 --method argmax"""


def add_choice_arguments(parser: argparse.ArgumentParser) -> None:
    """The alignment-reading flags shared by ``align`` and ``evaluate``."""
    group = parser.add_argument_group(
        "alignment from attention (default: the run's alignment.json or config, else "
        "the last layer's head mean, argmax, source pieces summed)"
    )
    group.add_argument("--layer", type=int, default=None, help="decoder layer (negative: from the end)")
    group.add_argument("--head", default=None, metavar="H", help="head index, or 'mean' for the layer mean")
    group.add_argument(
        "--method",
        type=LINK_METHODS,
        default=None,
        metavar="METHOD",
        help="argmax: each target word to its most attended source word; threshold: every "
        "pair with weight >= --threshold",
    )
    group.add_argument("--threshold", type=float, default=None, help="weight threshold in [0, 1] (default: 0.5)")
    group.add_argument(
        "--pool",
        type=POOLINGS,
        default=None,
        metavar="POOL",
        help="sum or mean: how a source word's subword columns are joined (default: sum)",
    )
    group.add_argument(
        "--explain",
        type=EXPLANATIONS,
        default=None,
        metavar="NAME",
        help="an explanation (`attnkit list explanations`): read the links from this explanation of each "
        "target token's source instead of the raw "
        "cross-attention (Transformer runs); its layers are the per-decoder-layer maps, then the "
        "aggregate over all layers as layer -1 (flow: slow, see attnkit.functional.explain)",
    )
    group.add_argument(
        "--reverse", metavar="RUN2", default=None, help="run of the other direction: align both ways and symmetrise"
    )
    group.add_argument(
        "--symmetrisation",
        type=SYMMETRISATIONS,
        default="grow-diag-final-and",
        metavar="HOW",
        help="how --reverse's two directions are joined (default: %(default)s)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN", help="trained translation run (source -> target)")
    parser.add_argument("--input", required=True, type=Path, metavar="SRC", help="source sentences, one a line")
    parser.add_argument(
        "--target",
        type=Path,
        metavar="TGT",
        help="their translations, one a line (default: the model's own greedy translations, printed to stdout)",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        metavar="LINKS",
        help="Pharaoh file to write: 'i-j' (source word i, target word j, 0-based) per link",
    )
    pictures = parser.add_argument_group("pictures")
    pictures.add_argument(
        "--plot",
        type=Path,
        metavar="FILE",
        help="draw line --plot-line's word-level attention with its links (PNG, SVG, PDF); with "
        "--gold, hits, misses and false links are marked apart",
    )
    pictures.add_argument("--plot-line", type=int, default=1, metavar="N", help="line to draw, 1-based (default: 1)")
    pictures.add_argument(
        "--gold",
        type=Path,
        metavar="LINKS",
        help="gold Pharaoh links of the input lines: print the links' AER, precision and recall against "
        "them (to stderr when the translations go to stdout) and mark hits and misses in --plot",
    )
    add_choice_arguments(parser)
    add_common(parser)


def choice_of(args: argparse.Namespace, run_: Run) -> AlignmentChoice:
    """The run's alignment choice (where its task keeps one: ``capabilities.alignment_choice``; else
    the default), with the flags given on the command line applied."""
    from ..evaluation.word_alignment import AlignmentChoice

    keeps = run_.capabilities.task.alignment_choice
    base = cast("AlignmentChoiceTask", run_.task).choice if keeps else AlignmentChoice()
    given = {"layer": args.layer, "method": args.method, "threshold": args.threshold, "source_pool": args.pool}
    try:
        if args.head is not None:
            given["head"] = parse_heads(args.head)
        return AlignmentChoice(**{**base.as_dict(), **{k: v for k, v in given.items() if v is not None}})
    except ValueError as err:
        raise UserError(str(err), code=2) from None


def _lines(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text") from None
    if not lines:
        raise UserError(f"{path}: empty file; give one sentence a line")
    empty = next((n for n, line in enumerate(lines, 1) if not line.strip()), None)
    if empty is not None:
        raise UserError(f"{path}: line {empty} is empty; give one sentence a line")
    return lines


def explain_of(args: argparse.Namespace, run_: Run) -> str | None:
    """``--explain``, checked against what the run's model declares (``capabilities.model.explains``)."""
    if args.explain is not None and not run_.capabilities.model.explains:
        raise UserError(
            f"--explain {args.explain}: {run_.path} ({run_.label}) declares no explanations beyond raw "
            "attention (a Transformer encoder-decoder has them); leave out --explain",
            code=2,
        )
    return args.explain


def forced_of(run_: Run, sources: list[str], targets: list[str], explain: str | None):
    """The run's forced attention, or explanation `explain`, on each (source, target) pair."""
    task = cast("Seq2SeqTask", run_.task)  # a translation run: its task force-decodes
    if explain is None:  # the call as before --explain
        return task.forced_attention(run_.model, list(zip(sources, targets)))
    return task.forced_attention(run_.model, list(zip(sources, targets)), explain=explain)


def model_links(
    run_, sources: list[str], targets: list[str], choice: AlignmentChoice, explain: str | None = None
) -> list[set[tuple[int, int]]]:
    """Links (source word, target word) of `run_`'s attention (or explanation `explain`) on each
    (source, target) pair."""
    from ..evaluation.word_alignment import choice_links

    try:
        forced = forced_of(run_, sources, targets, explain)
        return [
            choice_links(
                f.weights, f.src_tokens, f.tgt_tokens, choice, n_src_words=len(s.split()), n_tgt_words=len(t.split())
            )
            for f, s, t in zip(forced, sources, targets)
        ]
    except InputError as err:
        raise UserError(str(err)) from None
    except ValueError as err:
        raise UserError(f"{run_.path}: {err}") from None


def links_of(args: argparse.Namespace, run_, sources: list[str], targets: list[str]) -> list[set[tuple[int, int]]]:
    """The forward run's links, symmetrised with ``--reverse``'s (flipped back) when given."""
    from ..evaluation.alignment import symmetrise

    forward = model_links(run_, sources, targets, choice_of(args, run_), explain_of(args, run_))
    if not args.reverse:
        return forward
    rev_run = load_run(args.reverse, device=device_of(args))
    require_translation(rev_run, "align --reverse")
    backward = model_links(rev_run, targets, sources, choice_of(args, rev_run), explain_of(args, rev_run))
    return [
        symmetrise(f, {(i, j) for j, i in b}, args.symmetrisation, n_source=len(s.split()), n_target=len(t.split()))
        for f, b, s, t in zip(forward, backward, sources, targets)
    ]


def run(args: argparse.Namespace) -> int:
    from ..evaluation.alignment import write_pharaoh

    inputs = [p for p in (args.input, args.target, args.gold) if p is not None]
    check_output(args.output, "--output", inputs)  # before any work: an input is never overwritten
    if args.plot:
        check_output(args.plot, "--plot", [*inputs, args.output], plot=True)
    run_ = load_run(args.model, device=device_of(args))
    require_translation(run_, "align")
    sources = _lines(args.input)
    if args.target is not None:
        targets = _lines(args.target)
        if len(targets) != len(sources):
            raise UserError(f"{args.input} has {len(sources)} lines but {args.target} has {len(targets)}")
    else:
        try:
            task = cast("Seq2SeqTask", run_.task)  # a text translation run: its task decodes lines
            targets = [t.output for t in task.translate(run_.model, [(s, "") for s in sources])]
        except InputError as err:
            raise UserError(str(err)) from None
        print("\n".join(targets))
    links = links_of(args, run_, sources, targets)
    write_pharaoh(args.output, links)
    if args.gold:
        _print_gold_score(args, links, len(sources), to_stderr=args.target is None)
    if args.plot:
        _plot(args, run_, sources, targets, links)
    return 0


def _print_gold_score(args, links: list[set[tuple[int, int]]], n_lines: int, *, to_stderr: bool) -> None:
    """``align --gold``: the AER, precision and recall of `links` against the gold's sure and
    possible links [Och03] (stdout, or stderr when the translations went to stdout)."""
    from ..evaluation.alignment import alignment_error_rate

    sure, possible = _read_gold(args.gold)
    if len(sure) != n_lines:
        raise UserError(f"{args.gold} has {len(sure)} lines but {args.input} has {n_lines}")
    try:
        score = alignment_error_rate(links, sure, possible)
    except ValueError as err:
        raise UserError(f"{args.gold}: {err}") from None
    print("\n".join(_score_lines(score, f"{args.output} against {args.gold}")), file=sys.stderr if to_stderr else None)


def _plot(args, run_, sources, targets, links) -> None:
    """The picture of one line: the forward run's word-level attention, its links and the gold."""
    from ..evaluation.word_alignment import piece_words, word_weights
    from ..viz import plot_links, save_figure

    k = args.plot_line - 1
    if not 0 <= k < len(sources):
        raise UserError(f"--plot-line must be in 1..{len(sources)}, got {args.plot_line}", code=2)
    gold = links[k]
    if args.gold:
        all_gold = _read_gold(args.gold)[0]
        if len(all_gold) != len(sources):
            raise UserError(f"{args.gold} has {len(all_gold)} lines but {args.input} has {len(sources)}")
        gold = all_gold[k]
    choice = choice_of(args, run_)
    (forced,) = forced_of(run_, [sources[k]], [targets[k]], explain_of(args, run_))
    try:
        matrix = word_weights(
            select_heads(forced.weights[choice.layer], choice.head),
            piece_words(forced.src_tokens, len(sources[k].split())),
            piece_words(forced.tgt_tokens, len(targets[k].split())),
            source_pool=choice.source_pool,
        )
        fig = plot_links(
            matrix.numpy(),
            sources[k].split(),
            targets[k].split(),
            gold=gold,
            predicted=links[k],
            title=f"{run_.label}, line {args.plot_line}: {_how(args, choice)}",
        )
    except (ValueError, IndexError) as err:
        raise UserError(f"--plot: {err}") from None
    save_figure(fig, args.plot)


# --- attnkit evaluate --gold / --links / --choose ----------------------------------------------
def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("word alignment (AER, precision, recall against gold links)")
    group.add_argument(
        "--gold",
        type=Path,
        metavar="LINKS",
        help="gold Pharaoh links of the split's lines (e.g. CORPUS/test.gold.pharaoh): score the "
        "attention's alignment instead of the translations",
    )
    group.add_argument(
        "--links",
        type=Path,
        metavar="LINKS",
        help="score this Pharaoh file (e.g. CORPUS/test.eflomal.pharaoh) against --gold; no --model",
    )
    group.add_argument("--source", type=Path, metavar="SRC", help="source lines of --gold (default: the run's split)")
    group.add_argument("--target", type=Path, metavar="TGT", help="target lines of --gold (default: the run's split)")
    group.add_argument(
        "--choose",
        action="store_true",
        help="try every layer, head, link method and pooling on the gold (use --split dev) and "
        "keep the best in RUN/alignment.json",
    )
    add_choice_arguments(parser)


def wants_alignment(args: argparse.Namespace) -> bool:
    return bool(args.gold or args.links or args.choose or args.explain)


def _how(args: argparse.Namespace, choice: AlignmentChoice) -> str:
    return choice.label() + (f", explanation {args.explain}" if args.explain else "")


def _score_lines(score, label: str) -> list[str]:
    return [
        f"{label}:",
        f"{'sentences:':<16}{score.n_sentences}",
        f"{'AER:':<16}{score.aer:.4f}",
        f"{'precision:':<16}{score.precision:.4f}",
        f"{'recall:':<16}{score.recall:.4f}",
        f"{'links:':<16}{score.n_predicted} predicted, {score.n_sure} sure, {score.n_possible} possible",
    ]


def _read_gold(path: Path):
    from ..evaluation.alignment import read_pharaoh

    try:
        return read_pharaoh(path, with_possible=True)
    except ValueError as err:
        raise UserError(str(err)) from None


def run_evaluate(args: argparse.Namespace) -> int:
    """``attnkit evaluate`` with ``--gold``, ``--links`` or ``--choose``."""
    from ..evaluation.alignment import alignment_error_rate

    if args.links:
        if not args.gold or args.model:
            raise UserError(
                "--links scores a links file against --gold, without --model: "
                "attnkit evaluate --links LINKS --gold GOLD",
                code=2,
            )
        sure, possible = _read_gold(args.gold)
        predicted = _read_gold(args.links)[1]
        try:
            score = alignment_error_rate(predicted, sure, possible)
        except ValueError as err:
            raise UserError(f"{args.links} and {args.gold}: {err}") from None
        return _print(args, score, f"{args.links} against {args.gold}")
    if not args.model:
        raise UserError("give --model RUN (or --links LINKS --gold GOLD)", code=2)
    run_ = load_run(args.model, device=device_of(args))
    require_translation(run_, "align")
    sources, targets, gold = _texts_and_gold(args, run_)
    sure, possible = gold
    if args.choose:
        if args.reverse:
            raise UserError("--choose picks one run's layer and head; run it on each direction's run alone", code=2)
        if args.split != "dev":
            raise UserError("--choose must look at the dev gold, never the test: add --split dev", code=2)
        return _choose(args, run_, sources, targets, sure)
    score = alignment_error_rate(links_of(args, run_, sources, targets), sure, possible)
    how = _how(args, choice_of(args, run_)) + (f"; + {args.reverse}, {args.symmetrisation}" if args.reverse else "")
    return _print(args, score, f"{run_.path} ({run_.label}), {args.split} split, {how}")


def _texts_and_gold(args, run_):
    from ..training import RunError

    examples = []
    if args.source or args.target:
        if not (args.source and args.target and args.gold):
            raise UserError("give --source, --target and --gold together (the lines the gold aligns)", code=2)
        sources, targets = _lines(args.source), _lines(args.target)
    else:
        try:
            examples = run_.task.load_split(run_.path, args.split)
        except (OSError, ValueError) as err:
            raise RunError(f"run folder {run_.path} has no readable {args.split} split: {err}") from None
        sources, targets = [e.text for e in examples], [e.target for e in examples]
    if args.gold:
        sure, possible = _read_gold(args.gold)
    else:
        saved = [e.gold for e in examples] if run_.capabilities.task.gold is GoldKind.WORD_LINKS else []
        if not saved or any(g is None for g in saved):
            raise UserError(f"{run_.path} has no gold links for its {args.split} split; pass --gold LINKS", code=2)
        sure = possible = [set(g) for g in saved]
    if not len(sure) == len(sources) == len(targets):
        raise UserError(
            f"the gold has {len(sure)} lines but the texts have {len(sources)} and {len(targets)}; "
            "give the --source and --target lines the gold belongs to"
        )
    return sources, targets, (sure, possible)


def _choose(args, run_, sources, targets, gold) -> int:
    from ..evaluation.word_alignment import sweep_choices

    try:
        forced = forced_of(run_, sources, targets, explain_of(args, run_))
        results = sweep_choices(forced, gold, [(len(s.split()), len(t.split())) for s, t in zip(sources, targets)])
    except (InputError, ValueError) as err:
        raise UserError(f"{run_.path}: {err}") from None
    best, score = results[0]
    keeps = run_.capabilities.task.alignment_choice and args.explain is None  # alignment.json: raw attention
    if keeps:
        cast("AlignmentChoiceTask", run_.task).save_choice(run_.path, best, score.as_dict())
    if args.json:
        print(
            json.dumps(
                {
                    **({"explain": args.explain} if args.explain else {}),
                    "best": best.as_dict(),
                    "results": [{**c.as_dict(), **s.as_dict()} for c, s in results],
                }
            )
        )
        return 0
    what = f"explanation {args.explain}" if args.explain else "the attention"
    print(f"{run_.path} ({run_.label}), {args.split} split: {len(results)} ways of reading {what}")
    print("| layer | head | method | source pieces | AER | precision | recall |")
    print("| ---: | --- | --- | --- | ---: | ---: | ---: |")
    for c, s in results[:15]:
        how = c.method if c.method == "argmax" else f"threshold {c.threshold:g}"
        print(f"| {c.layer} | {c.head} | {how} | {c.source_pool} | {s.aer:.4f} | {s.precision:.4f} | {s.recall:.4f} |")
    kept = f"kept in {run_.path / 'alignment.json'}" if keeps else "pass it as flags"
    print(f"best: {_how(args, best)} (AER {score.aer:.4f}); {kept}")
    return 0


def _print(args, score, title: str) -> int:
    if args.json:
        print(json.dumps(score.as_dict()))
    else:
        print("\n".join(_score_lines(score, title)))
    return 0
