"""``attnkit data bible`` / ``alignments``: build a parallel corpus from installed packages (one subcommand each)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from . import data_alignments
from .common import MAX_SEED, UserError, check_out_folder, whole

EPILOG = """examples:
  attnkit data bible                       # corpora/bible.spaRV1909eb-engWEB2015eb
  attnkit data bible --tgt engKJV2006eb --out corpora/bible-kjv --n-test 2000"""

BIBLE_EPILOG = """The modules come from Debian packages:
  sudo apt-get install sword-text-sparv sword-text-web      # spaRV1909eb, engWEB2015eb
The first read of a module takes about a minute; later runs use a cache. If --out already
holds a corpus built from the same modules and options, nothing is rebuilt (--force does).

example:
  attnkit data bible --src spaRV1909eb --tgt engWEB2015eb --seed 1234"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="corpus", required=True, metavar="CORPUS")
    bible = sub.add_parser(
        "bible",
        help="Spanish-English verse pairs from two SWORD Bible modules",
        description="Align two SWORD Bible modules verse by verse (Gale & Church 1993, robust to "
        "versification differences), filter the pairs and split them into train/dev/test.",
        epilog=BIBLE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    modules = bible.add_argument_group("modules")
    modules.add_argument("--src", default="spaRV1909eb", help="source module (default: %(default)s)")
    modules.add_argument("--tgt", default="engWEB2015eb", help="target module (default: %(default)s)")
    output = bible.add_argument_group("output")
    output.add_argument("--out", type=Path, help="corpus folder (default: corpora/bible.<src>-<tgt>)")
    output.add_argument("--force", action="store_true", help="rebuild even if the corpus is up to date")
    split = bible.add_argument_group("split and filters")
    split.add_argument("--seed", type=whole(0, MAX_SEED), default=1234, help="seed of the split (default: %(default)s)")
    split.add_argument("--n-dev", type=int, default=500, help="development pairs (default: %(default)s)")
    split.add_argument("--n-test", type=int, default=1000, help="test pairs (default: %(default)s)")
    split.add_argument(
        "--max-words", type=int, default=80, help="drop pairs with a longer side, in words (default: %(default)s)"
    )
    split.add_argument(
        "--max-ratio",
        type=float,
        default=2.5,
        help="drop pairs whose word counts differ by a larger factor (default: %(default)s)",
    )
    bible.set_defaults(build=_bible)
    data_alignments.add_parser(sub)


def run(args: argparse.Namespace) -> int:
    return args.build(args)


def build_bible_corpus(*args: Any, **kwargs: Any) -> dict:
    """:func:`attnkit.data.bible.build_bible_corpus`, imported when called."""
    from ..data.bible import build_bible_corpus as build

    return build(*args, **kwargs)


def find_module(name: str) -> Any:
    """:func:`attnkit.data.sword.find_module`, imported when called."""
    from ..data.sword import find_module as find

    return find(name)


def _bible(args: argparse.Namespace) -> int:
    from ..data.bible import BibleError
    from ..data.sword import SwordError

    if args.n_dev < 0 or args.n_test < 0 or args.max_words < 1 or not args.max_ratio >= 1:
        raise UserError("--n-dev and --n-test must be >= 0, --max-words >= 1 and --max-ratio >= 1", code=2)
    default = Path("corpora") / f"bible.{args.src}-{args.tgt}"
    out = check_out_folder(args.out or default, default=default)
    start = time.perf_counter()
    try:
        for name in (args.src, args.tgt):
            find_module(name)  # a missing module fails here at once, before any progress message
        manifest = build_bible_corpus(
            args.src,
            args.tgt,
            out,
            seed=args.seed,
            n_dev=args.n_dev,
            n_test=args.n_test,
            max_words=args.max_words,
            max_ratio=args.max_ratio,
            force=args.force,
        )
    except (SwordError, BibleError) as err:
        raise UserError(str(err)) from None
    counts = manifest["counts"]
    if manifest["up_to_date"]:
        print(
            f"{out}: up to date ({counts['train']:,} train, {counts['dev']:,} dev, "
            f"{counts['test']:,} test pairs); --force rebuilds it"
        )
        return 0
    align = manifest["alignment"]
    dropped = ", ".join(f"{n:,} {reason}" for reason, n in manifest["dropped"].items()) or "none"
    print(
        f"aligned {counts['aligned']:,} verse pairs of {args.src} and {args.tgt}; "
        f"{align['realigned']:,} differ from pairing by verse number "
        f"({len(align['realigned_chapters'])} chapters)"
    )
    print(f"dropped: {dropped}")
    print(
        f"{out}: {counts['train']:,} train, {counts['dev']:,} dev, {counts['test']:,} test pairs "
        f"({time.perf_counter() - start:.0f} s)"
    )
    return 0
