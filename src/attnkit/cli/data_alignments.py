"""``attnkit data alignments``: the Greek→English corpus with manual word alignments (gold test and
dev links in Pharaoh format), and the statistical aligner's links beside them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from .common import MAX_SEED, LazyChoices, UserError, check_out_folder, whole

DEFAULT_OUT = Path("corpora") / "alignments.SBLGNT-BSB"

#: attnkit.data.alignments.INSTALL_COMMAND, written out so that --help imports no library code
INSTALL_COMMAND = "pip install --no-deps bible-alignments"
PUNCTUATION = LazyChoices("attnkit.data.alignments", "PUNCTUATION")
SYMMETRISATIONS = LazyChoices("attnkit.evaluation.alignment", "SYMMETRISATIONS")

EPILOG = f"""The data comes from the PyPI package bible-alignments (Clear Bible / Biblica, CC-BY-4.0),
read from the files inside its wheel (its loader is not used):
  {INSTALL_COMMAND}
The statistical aligner is eflomal (pip install eflomal); it aligns train + dev + test text in both
directions (about a minute and a half on one core) and writes CORPUS/{{split}}.eflomal.pharaoh.

examples:
  attnkit data alignments                                   # corpora/alignments.SBLGNT-BSB
  attnkit evaluate --links corpora/alignments.SBLGNT-BSB/test.eflomal.pharaoh \\
                   --gold corpora/alignments.SBLGNT-BSB/test.gold.pharaoh"""


def add_parser(sub) -> None:
    """Register ``alignments`` under ``attnkit data``."""
    p = sub.add_parser(
        "alignments",
        help="Greek-English verses with manual word alignments (bible-alignments)",
        description="Greek (SBLGNT) -> English (BSB) verses with the manual word alignments "
        "of the bible-alignments package: seeded gold test/dev split, gold links in Pharaoh "
        "format, the statistical aligner's links beside them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="corpus folder (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="rebuild even if the corpus is up to date")
    p.add_argument("--seed", type=whole(0, MAX_SEED), default=1234, help="seed of the split (default: %(default)s)")
    p.add_argument("--n-dev", type=int, default=300, help="gold dev verses (default: %(default)s)")
    p.add_argument("--n-test", type=int, default=1000, help="gold test verses (default: %(default)s)")
    p.add_argument(
        "--punctuation",
        type=PUNCTUATION,
        default="drop",
        metavar="HOW",
        help="tokens the target table marks as punctuation: drop them, split them off as words "
        "of their own, or attach them as the text is written (default: %(default)s)",
    )
    p.add_argument(
        "--aligner",
        choices=("eflomal", "none"),
        default="eflomal",
        help="statistical aligner whose links to write beside the gold (default: %(default)s)",
    )
    p.add_argument(
        "--symmetrisation",
        type=SYMMETRISATIONS,
        default="grow-diag-final-and",
        metavar="HOW",
        help="how the aligner's two directions are joined (default: %(default)s)",
    )
    p.set_defaults(build=run)


def find_package() -> Any:
    """:func:`attnkit.data.alignments.find_package`, imported when called."""
    from ..data.alignments import find_package as find

    return find()


def run(args: argparse.Namespace) -> int:
    from ..data.alignments import AlignmentDataError, build_alignment_corpus
    from ..data.statistical_align import AlignerError, align_corpus

    if args.n_dev < 1 or args.n_test < 1:
        raise UserError("--n-dev and --n-test must be >= 1", code=2)
    check_out_folder(args.out, default=DEFAULT_OUT)
    start = time.perf_counter()
    try:
        files = find_package()
        manifest = build_alignment_corpus(
            args.out,
            seed=args.seed,
            n_dev=args.n_dev,
            n_test=args.n_test,
            punctuation=args.punctuation,
            force=args.force,
            files=files,
        )
    except AlignmentDataError as err:
        raise UserError(str(err)) from None
    counts = manifest["counts"]
    summary = f"{counts['train']:,} train, {counts['dev']:,} gold dev, {counts['test']:,} gold test verses"
    fresh = not manifest["up_to_date"]
    if fresh:
        stats = manifest["statistics"]
        print(
            f"read {stats['records']:,} alignment records of bible-alignments {files.version}: "
            f"{stats['links']:,} links, {counts['segments']:,} segments "
            f"({stats['merged segments']} of merged verses)"
        )
        print(f"{args.out}: {summary}")
    else:
        print(f"{args.out}: up to date ({summary}); --force rebuilds it")
    aligned = manifest.get("statistical_aligner", {}).get("symmetrisation") == args.symmetrisation
    if args.aligner == "eflomal" and (fresh or not aligned):
        try:
            section = align_corpus(args.out, symmetrisation=args.symmetrisation)
        except AlignerError as err:
            raise UserError(str(err)) from None
        print(
            f"eflomal {section['version']} links ({section['symmetrisation']}): "
            f"{args.out}/{{train,dev,test}}.eflomal.pharaoh"
        )
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0
