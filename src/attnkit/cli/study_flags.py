"""The flags every study takes: ``--budget`` (steps or minutes of training per run) and ``--seeds``;
the older ``--minutes``, ``--epochs`` and ``--seed`` still work, each with a one-line warning."""

from __future__ import annotations

import argparse
import logging

from ..errors import ConfigError
from ..studies.budget import Budget
from .common import MAX_MINUTES, MAX_SEED, UserError, number, whole

log = logging.getLogger(__name__)

BUDGET_HELP = (
    "training budget of every run: steps (e.g. 5000) or minutes of wall-clock training, validation "
    "included (e.g. 30min)"
)


def budget_type(text: str) -> Budget:
    """An argparse ``type``: a :class:`~attnkit.studies.budget.Budget` (a usage error otherwise)."""
    try:
        return Budget.parse(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_study_flags(
    parser: argparse.ArgumentParser, *, default_budget: str, seeds_default: str, several_seeds: bool
) -> None:
    """``--budget`` and ``--seeds``, with ``--minutes`` as a deprecated alias of ``--budget Nmin``
    (hidden from the help; ``--seed``, every command's, is read as ``--seeds`` by
    :func:`study_seeds`)."""
    parser.add_argument(
        "--budget", type=budget_type, default=None, metavar="BUDGET", help=f"{BUDGET_HELP} (default: {default_budget})"
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=whole(0, MAX_SEED),
        default=None,
        metavar="SEED",
        help=("training seeds, one run per seed" if several_seeds else "the training seed (one)")
        + f" (default: {seeds_default})",
    )
    parser.add_argument(
        "--minutes", type=number(0, MAX_MINUTES, above_low=True), default=None, help=argparse.SUPPRESS
    )  # deprecated: --budget Nmin


def study_budget(args: argparse.Namespace, default: Budget | None, command: str) -> Budget | None:
    """``--budget``, or the deprecated ``--minutes`` (with a warning), or `default`.

    Raises:
        UserError: (exit 2) when both are given.
    """
    if args.minutes is not None:
        if args.budget is not None:
            raise UserError("--minutes is the old spelling of --budget Nmin; give --budget only", code=2)
        log.warning("attnkit study %s: --minutes is deprecated; use --budget %smin", command, f"{args.minutes:g}")
        return Budget(minutes=args.minutes)
    return args.budget if args.budget is not None else default


def study_seeds(args: argparse.Namespace, default: list[int], command: str, *, several: bool) -> list[int]:
    """``--seeds``, or the deprecated ``--seed`` (with a warning), or `default`.

    Raises:
        UserError: (exit 2) for both, or for several seeds where the study trains one.
    """
    seeds = args.seeds
    if args.seed is not None:
        if seeds is not None:
            raise UserError("--seed is the old spelling of --seeds; give --seeds only", code=2)
        log.warning("attnkit study %s: --seed is deprecated for studies; use --seeds %d", command, args.seed)
        seeds = [args.seed]
    seeds = list(default if seeds is None else seeds)
    if not several and len(seeds) != 1:
        raise UserError(f"study {command} trains one seed; give one --seeds value", code=2)
    if len(set(seeds)) != len(seeds):
        raise UserError("--seeds names a seed twice", code=2)
    return seeds
