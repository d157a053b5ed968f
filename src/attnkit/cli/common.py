"""Shared CLI helpers: user errors become one-line messages, never tracebacks."""

from __future__ import annotations

import argparse
import random
from contextlib import contextmanager
from typing import Iterator

import torch

from ..config import ConfigError
from ..decoding import PRECISIONS, STOP_RULES
from ..tasks import InputError
from ..training import CheckpointError, RunError


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into :class:`UserError`."""
    try:
        yield
    except ConfigError as err:
        raise UserError(str(err), code=2) from None
    except (RunError, CheckpointError, InputError) as err:
        raise UserError(str(err)) from None
    except OSError as err:
        raise UserError(f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")) from None


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--seed`` and ``--device``, which every subcommand has."""
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed (default: the config's, or 1234)")
    parser.add_argument("--device", default="cpu", choices=["cpu"],
                        help="device to run on (default: %(default)s; GPU support comes later)")


def seed_everything(seed: int | None) -> None:
    if seed is not None:
        random.seed(seed)
        torch.manual_seed(seed)


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """``--beam``, ``--alpha``, ``--coverage-penalty``, ``--beam-stop`` and ``--precision``, shared by
    translate and evaluate."""
    parser.add_argument("--beam", type=int, default=1, metavar="K",
                        help="beam size; 1 = greedy decoding (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.6,
                        help="GNMT length-penalty exponent for beam search (default: %(default)s)")
    parser.add_argument("--coverage-penalty", type=float, default=0.0, metavar="BETA",
                        help="GNMT coverage-penalty weight for beam search (default: %(default)s)")
    parser.add_argument("--beam-stop", default="heuristic", choices=STOP_RULES,
                        help="end a sentence's beam when its best live hypothesis, scored at its next "
                             "length (heuristic) or at the maximum length (exact), cannot beat the best "
                             "finished one (default: %(default)s)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="bf16: decode under bfloat16 autocast, faster on CPUs with AMX/AVX512-BF16 "
                             "(default: %(default)s)")


def decoding_kwargs(args: argparse.Namespace) -> dict:
    """The decoding flags as keyword arguments of :func:`attnkit.decoding.translate`."""
    return {"beam_size": args.beam, "alpha": args.alpha, "beta": args.coverage_penalty,
            "stop": args.beam_stop, "precision": args.precision}


def check_decoding_arguments(args: argparse.Namespace, model) -> None:
    """Usage errors for the decoding flags (exit 2)."""
    if args.beam < 1 or args.alpha < 0 or args.coverage_penalty < 0:
        raise UserError("--beam must be >= 1, --alpha and --coverage-penalty >= 0", code=2)
    if args.coverage_penalty and not model.uses_attention:
        raise UserError(f"{args.model} has no attention, so no coverage penalty", code=2)
