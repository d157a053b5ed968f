# ruff: noqa: E402  (the imports after the Ctrl-C handler below)
"""Layer 8 (docs/architecture.md): the ``attnkit`` command. Parses, validates, sets up logging, calls the library.

Exit codes: 0 success, 1 runtime failure (bad input, missing run, ...), 2 usage error.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Sequence


def _interrupted_while_starting(signum, frame) -> None:
    """Ctrl-C while the command's modules (torch, ...) are imported: one line, exit 130."""
    sys.stderr.write("attnkit: interrupted\n")
    os._exit(130)


# Run as the command (``python -m attnkit.cli``, the ``attnkit`` script), not imported as a library:
# Ctrl-C during the imports below ends the command quietly instead of with a traceback.
_STARTING = sys.argv[0] == "-m" or os.path.basename(sys.argv[0]) == "attnkit"
_previous_handler = signal.signal(signal.SIGINT, _interrupted_while_starting) if _STARTING else None

import importlib

from .. import __version__
from ..machine import tune_allocator
from .common import Parser, UserError, seed_everything, user_errors

if _STARTING:
    signal.signal(signal.SIGINT, _previous_handler)  # main() turns KeyboardInterrupt into exit 130

__all__ = ["main"]

# name -> (module of attnkit.cli, help). A command module imports its library code (torch, the
# models, the registries) inside its functions, so that building the parser (``--help``) is quick.
_COMMANDS = {
    "demo": ("demo", "train the date model with and without attention, compare, plot"),
    "train": ("train", "train a model from a YAML config into a run folder"),
    "predict": ("predict", "predict from raw inputs with a trained run of any task, with its attention"),
    "translate": ("translate", "translate sentences with a trained run of a text task (predict for text)"),
    "evaluate": ("evaluate", "score a trained run on one of its splits with its task's metrics"),
    "align": (
        "align_cmd",
        "word alignments from a translation run's attention (Pharaoh links), optionally symmetrised",
    ),
    "compare": ("compare", "train several configs on the same data and compare them in one table"),
    "list": ("list_cmd", "list every score, normaliser, attention module, model family, positional encoding and task"),
    "data": (
        "data_cmd",
        "build a parallel corpus (the Spanish-English Bible, Greek-English gold alignments) from installed packages",
    ),
    "study": ("study", "run a documented study end to end and write its report"),
    "explore": ("explore_cmd", "a local web page showing where trained runs' models look"),
    "import-hf": ("import_hf", "import a local Hugging Face checkpoint folder (BERT, GPT-2, ...) as a run folder"),
    "export-hf": ("export_hf", "export a run (BERT-like encoder, GPT-2, ...) as a Hugging Face checkpoint folder"),
    "export": ("export", "export a Transformer run for an inference engine (CTranslate2), attention kept"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="attnkit",
        description="Attention mechanisms end to end: train, translate, evaluate, and see where the model looks.",
        epilog="example: attnkit demo --out runs/demo",
    )
    parser.add_argument("--version", action="version", version=f"attnkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in _COMMANDS.items():
        module = importlib.import_module(f".{module_name}", __name__)
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``attnkit`` command with `argv` (default: ``sys.argv[1:]``); returns the exit code
    (130 after Ctrl-C, at any point, with one line and no traceback)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the command ran, or while it printed its error
        print("attnkit: interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr, force=True)
    seed_everything(getattr(args, "seed", None))  # sampling anywhere below is reproducible
    tune_allocator()
    try:
        with user_errors():
            return int(args.run(args) or 0)
    except UserError as err:
        print(f"attnkit {args.command}: error: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print(f"attnkit {args.command}: interrupted", file=sys.stderr)
        return 130
