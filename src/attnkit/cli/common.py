"""Shared CLI helpers: user errors become one-line messages, never tracebacks."""

from __future__ import annotations

import argparse
import random
from contextlib import contextmanager
from typing import Iterator

import torch

from ..config import ConfigError
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
