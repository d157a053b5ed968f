"""Shared CLI helpers: user errors become one-line messages, never tracebacks."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..capabilities import InputKind
from ..decoding import DecodeOptionError, DecodeOptions, option_fields  # plain data: no torch
from ..errors import ConfigError, InputError, did_you_mean
from ..machine import DEVICE_HELP, resolve_device
from ..registry import Registry

# This module and every command module import no torch, no model and no registry at the top: a
# command's library code is imported when it runs, so that ``attnkit --help`` is quick.


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user-facing errors into :class:`UserError`."""
    from ..training import CheckpointError, RunError  # the command's imports have loaded torch by now

    try:
        yield
    except DecodeOptionError as err:  # an option the run cannot take (checked where it decodes)
        flags = {f.name: f.metadata["flag"] for f in option_fields()}
        raise UserError(f"{flags.get(err.field or '', 'decoding')}: {err}", code=2) from None
    except ConfigError as err:
        raise UserError(str(err), code=2) from None
    except (RunError, CheckpointError, InputError) as err:
        raise UserError(str(err)) from None
    except OSError as err:
        raise UserError(f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")) from None


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose invalid-choice errors (a subcommand, an option's value) add the
    closest choices: ``invalid choice: 'trian' (did you mean 'train'?)``."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            names = list(action.choices)
            raise argparse.ArgumentError(
                action,
                f"invalid choice: {value!r}; choose from "
                + ", ".join(repr(c) for c in names)
                + did_you_mean(value, names),
            )


class LazyChoices:
    """An argparse ``type`` that accepts one of the names a library module holds, read only when
    a value is checked (when the command runs), so that ``--help`` imports no torch; give the
    argument a ``metavar`` and name the choices in its help. An unknown name is a usage error
    naming the closest ones and all of them.

    Args:
        module: the module, e.g. ``"attnkit.models.explain"``.
        name: its tuple or mapping of names, or its :class:`~attnkit.registry.Registry`.
    """

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def names(self) -> list[str]:
        value = getattr(importlib.import_module(self.module), self.name)
        return list(value.names()) if isinstance(value, Registry) else list(value)

    def __call__(self, text: str) -> str:
        names = self.names()
        if text not in names:
            raise argparse.ArgumentTypeError(
                f"invalid choice: {text!r}; choose from {', '.join(map(repr, names))}{did_you_mean(text, names)}"
            )
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


#: the most models a command trains at once (``--jobs``), torch threads (``--threads``) and minutes
#: of a training budget (``--minutes``, about two years) a flag takes
MAX_JOBS = 64
MAX_THREADS = 1024
MAX_MINUTES = 1_000_000.0

#: the largest seed: configs hold 64-bit integers, and torch's generator takes seeds below 2**64
MAX_SEED = 2**63 - 1


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from `low` to `high` (a usage error naming the range)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {text[:40]!r}")
        return value

    return parse


def number(low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number in [`low`, `high`] (above `low` when `above_low`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (low < value if above_low else low <= value) or not value <= high:
            where = f"above {low:g} and at most {high:g}" if above_low else f"from {low:g} to {high:g}"
            raise argparse.ArgumentTypeError(f"must be a number {where}, got {text[:40]!r}")
        return value

    return parse


def require_translation(run, command: str) -> None:
    """Refuse (exit 2, one line) a run whose task does not translate text (decode text into text),
    for the commands made for such runs (``translate``, ``align``), from what the run declares.

    Raises:
        UserError: naming the run, what its task takes, and ``attnkit predict`` instead.
    """
    task = run.capabilities.task
    if task.input is not InputKind.TEXT or not task.decodes:
        does = "decodes" if task.decodes else "classifies"
        raise UserError(
            f"{run.path} is a run of a task that {does} {task.input.value} input; attnkit {command} translates "
            f"text: use `attnkit predict --model {run.path} INPUT...`",
            code=2,
        )


def load_run(path: str | Path, **kwargs: Any) -> Any:
    """:func:`attnkit.training.load_run`, imported when a command calls it (it needs torch)."""
    from ..training import load_run as load

    return load(path, **kwargs)


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--seed`` and ``--device``, which every subcommand has."""
    parser.add_argument(
        "--seed",
        type=whole(0, MAX_SEED),
        default=None,
        help="random seed, 0 to 2**63-1 (default: the config's, or 1234)",
    )
    parser.add_argument(
        "--device", default="auto", metavar="DEVICE", help=f"device to run on: {DEVICE_HELP} (default: %(default)s)"
    )


def device_of(args: argparse.Namespace) -> str:
    """The torch device of ``--device`` (a usage error, exit 2, for one this machine lacks)."""
    return resolve_device(args.device)


def seed_everything(seed: int | None) -> None:
    if seed is not None:
        import torch

        random.seed(seed)
        torch.manual_seed(seed)


def add_decoding_arguments(parser: argparse.ArgumentParser, *, exclude: tuple[str, ...] = ()) -> None:
    """One flag per field of :class:`~attnkit.decoding.DecodeOptions` (``--beam``, ``--n-best``,
    ``--alpha``, ``--coverage-penalty``, ``--beam-stop``, ``--max-len``, ``--precision``,
    ``--batch-size``, ``--batch-tokens``), made from the fields' metadata (flag, help, choices,
    metavar) and defaults; `exclude` names fields a command has no use for. A flag not given
    stays None, so that :func:`decode_options` knows which ones were."""
    group = parser.add_argument_group("decoding (sequence tasks)")
    for f in option_fields():
        if f.name in exclude:
            continue
        meta = f.metadata
        kind = str if meta["choices"] else float if isinstance(f.default, float) else int
        default = (
            "" if f.default is None else f" (default: {f.default:g})" if kind is float else f" (default: {f.default})"
        )
        group.add_argument(
            meta["flag"],
            dest=_dest(f.name),
            type=kind,
            default=None,
            metavar=meta["metavar"],
            choices=meta["choices"] or None,
            help=meta["help"] + default,
        )


def _dest(name: str) -> str:
    return f"decode_{name}"


def decode_options(args: argparse.Namespace, run) -> DecodeOptions | None:
    """The :class:`~attnkit.decoding.DecodeOptions` of the decoding flags given on the command line
    (None when none was given), checked against what `run` declares it can do.

    Raises:
        UserError: (exit 2, one line) for a value out of range, any decoding flag for a run that
            does not decode (a classifier), or a coverage penalty for a model without attention.
    """
    given = {f.name: vars(args)[_dest(f.name)] for f in option_fields() if vars(args).get(_dest(f.name)) is not None}
    flags = {f.name: f.metadata["flag"] for f in option_fields()}
    if not given:
        return None
    if not run.capabilities.decodes:
        raise UserError(
            f"{run.path}: this model classifies and does not decode, so it takes no "
            f"{', '.join(flags[k] for k in given)}",
            code=2,
        )
    try:
        options = DecodeOptions(**given)
    except DecodeOptionError as err:
        raise UserError(f"{flags.get(err.field or '', 'decoding')}: {err}", code=2) from None
    if options.beta > 0 and not run.capabilities.coverage:
        raise UserError(f"{run.path} has no attention, so no coverage penalty (--coverage-penalty)", code=2)
    return options


def check_output(path: str | Path, flag: str, inputs: Iterable[str | Path] = (), *, plot: bool = False) -> Path:
    """`path` as an output file of a command, checked before any work: its folder must exist
    (attnkit creates no folders outside the run folders it owns), it must not be one of the
    command's `inputs` (the same file, by :func:`os.path.samefile`), and a picture's suffix must be
    one that matplotlib writes.

    Raises:
        UserError: exit 2, one line naming `flag`, the path and the fix.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name inside it", code=2)
    if not path.parent.is_dir():
        raise UserError(f"{flag} {path}: folder {path.parent} does not exist; create it first", code=2)
    if plot:
        from matplotlib.backend_bases import FigureCanvasBase  # matplotlib only when a picture is asked for

        suffix, formats = path.suffix.lstrip(".").lower(), FigureCanvasBase.get_supported_filetypes()
        if suffix and suffix not in formats:
            raise UserError(
                f"{flag} {path}: cannot write .{suffix} pictures; use one of "
                + ", ".join(f".{f}" for f in sorted(formats)),
                code=2,
            )
    if path.exists():
        for source in inputs:
            try:
                same = os.path.samefile(path, source)
            except OSError:  # an input that is not a file (a sentence given on the command line)
                same = False
            if same:
                raise UserError(f"{flag} {path} is also an input of this command; write to another file", code=2)
    return path


def check_out_folder(path: str | Path, flag: str = "--out", *, default: str | Path | None = None) -> Path:
    """`path` as a folder a command creates and owns (a run, a study, a corpus), checked before
    any work: its parent folder must exist, since attnkit creates no folders outside the ones it
    owns (``/nonexistent/run`` is a typing mistake more often than a wish). The command's own
    `default` (``runs/NAME``) is the exception: its parent, ``runs/``, is made when missing.

    Raises:
        UserError: exit 2, one line naming `flag`, the path and the fix.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; give a folder", code=2)
    if default is not None and path == Path(default):
        return path
    if not path.parent.is_dir():
        raise UserError(f"{flag} {path}: folder {path.parent} does not exist; create it first", code=2)
    return path
