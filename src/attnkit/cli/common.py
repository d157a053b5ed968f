"""Shared CLI helpers: user errors become one-line messages, never tracebacks."""

from __future__ import annotations

import argparse
import random
from contextlib import contextmanager
from typing import Iterator

import torch

from ..decoding import PRECISIONS, STOP_RULES
from ..errors import ConfigError, InputError
from ..machine import DEVICE_HELP, resolve_device
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
    parser.add_argument("--device", default="auto", metavar="DEVICE",
                        help=f"device to run on: {DEVICE_HELP} (default: %(default)s)")


def device_of(args: argparse.Namespace) -> str:
    """The torch device of ``--device`` (a usage error, exit 2, for one this machine lacks)."""
    return resolve_device(args.device)


def seed_everything(seed: int | None) -> None:
    if seed is not None:
        random.seed(seed)
        torch.manual_seed(seed)


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """``--beam``, ``--alpha``, ``--coverage-penalty``, ``--beam-stop`` and ``--precision``, shared by
    translate and evaluate."""
    group = parser.add_argument_group("decoding (sequence tasks)")
    group.add_argument("--beam", type=int, default=None, metavar="K",
                       help="beam size; 1 = greedy decoding (default: 1)")
    group.add_argument("--alpha", type=float, default=None,
                       help="GNMT length-penalty exponent for beam search (default: 0.6)")
    group.add_argument("--coverage-penalty", type=float, default=None, metavar="BETA",
                       help="GNMT coverage-penalty weight for beam search (default: 0)")
    group.add_argument("--beam-stop", default=None, choices=STOP_RULES,
                        help="end a sentence's beam when its best live hypothesis, scored at its next "
                             "length (heuristic) or at the maximum length (exact), cannot beat the best "
                             "finished one (default: heuristic)")
    group.add_argument("--precision", default=None, choices=PRECISIONS,
                       help="bf16: decode under bfloat16 autocast, faster on CPUs with AMX/AVX512-BF16 "
                            "(default: fp32)")


def decoding_kwargs(args: argparse.Namespace) -> dict:
    """The decoding flags as keyword arguments of :func:`attnkit.decoding.translate`; only the
    ones given on the command line (a task without decoding, such as classification, takes none)."""
    given = {"beam_size": args.beam, "alpha": args.alpha, "beta": args.coverage_penalty,
             "stop": args.beam_stop, "precision": args.precision}
    return {k: v for k, v in given.items() if v is not None}


_FLAGS = {"beam_size": "--beam", "alpha": "--alpha", "beta": "--coverage-penalty", "stop": "--beam-stop",
          "precision": "--precision"}


def check_decoding_arguments(args: argparse.Namespace, model) -> None:
    """Usage errors for the decoding flags (exit 2), including any flag for a model that does
    not decode (a classifier has no ``step``)."""
    given = decoding_kwargs(args)
    if given and not hasattr(model, "step"):
        raise UserError(f"{args.model}: this model classifies and does not decode, so it takes no "
                        f"{', '.join(_FLAGS[k] for k in given)}", code=2)
    if (args.beam is not None and args.beam < 1) or (args.alpha or 0) < 0 or (args.coverage_penalty or 0) < 0:
        raise UserError("--beam must be >= 1, --alpha and --coverage-penalty >= 0", code=2)
    if args.coverage_penalty and not getattr(model, "uses_attention", True):
        raise UserError(f"{args.model} has no attention, so no coverage penalty", code=2)
