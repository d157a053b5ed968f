"""``attnkit list``: every name a config or the CLI accepts, with a line and a reference each."""

from __future__ import annotations

import argparse

from ..functional import NORMALISERS, SCORES
from ..models import DECODERS
from ..nn import POSITIONAL
from ..registry import Entry, Registry
from ..tasks import TASKS

EPILOG = """example:
  attnkit list            # everything
  attnkit list normalisers"""

ARCHITECTURES: Registry[str] = Registry("architecture")
ARCHITECTURES.register("rnn", "rnn", "RNN encoder-decoder; pick its attention with model.attention",
                       "[Cho14], [Bahdanau15], [Luong15]")
ARCHITECTURES.register("transformer", "transformer", "Transformer encoder-decoder (pre/post-LN, GQA, KV cache)",
                       "[Vaswani17]")

SECTIONS: dict[str, tuple[str, Registry]] = {
    "scores": ("score functions (attnkit.functional.attend score=...)", SCORES),
    "normalisers": ("alignment functions (attend normalise=..., model.normaliser)", NORMALISERS),
    "attention": ("RNN decoder attention (model.attention)", DECODERS),
    "architectures": ("model architectures (model.arch)", ARCHITECTURES),
    "positional": ("positional encodings (model.positional)", POSITIONAL),
    "tasks": ("tasks (data.task)", TASKS),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("section", nargs="?", choices=list(SECTIONS), help="show only this section")


def _line(entry: Entry) -> str:
    ref = f"  {entry.reference}" if entry.reference else ""
    return f"  {entry.name:<16} {entry.description}{ref}"


def run(args: argparse.Namespace) -> int:
    for name, (title, registry) in SECTIONS.items():
        if args.section not in (None, name):
            continue
        print(f"{name}: {title}")
        for entry in registry:
            print(_line(entry))
        print()
    print("references: docs/references.md")
    return 0
