"""``attnkit list``: every name a config or the CLI accepts and every attention module, with a line
and its source (authors, year, venue, arXiv id) each."""

from __future__ import annotations

import argparse

from ..references import expand
from ..registry import Entry, Registry

EPILOG = """examples:
  attnkit list            # everything
  attnkit list normalisers"""

#: the sections, in order (their registries are imported when the command runs: :func:`sections`)
SECTION_NAMES = (
    "scores",
    "normalisers",
    "kernels",
    "attention",
    "modules",
    "pooling",
    "positional",
    "families",
    "tasks",
    "importers",
    "exporters",
    "explanations",
)


def sections() -> dict[str, tuple[str, Registry]]:
    """Section name -> (title, registry), in :data:`SECTION_NAMES` order."""
    from ..functional import ATTENTION_KERNELS, NORMALISERS, SCORES
    from ..models import DECODERS, FAMILIES
    from ..models.explain import EXPLANATIONS
    from ..nn import POSITIONAL
    from ..nn.catalog import MODULES, POOLING
    from ..pretrained import EXPORTERS, IMPORTERS
    from ..tasks import TASKS

    return {
        "scores": ("score functions (attnkit.functional.attend score=...)", SCORES),
        "normalisers": ("alignment functions (attend normalise=..., model.normaliser)", NORMALISERS),
        "kernels": ("attention kernels of multi-head attention (model.attention_kernel)", ATTENTION_KERNELS),
        "attention": ("RNN decoder attention (model.attention)", DECODERS),
        "modules": ("attention modules (attnkit.nn)", MODULES),
        "pooling": ("attention pooling (attnkit.nn)", POOLING),
        "positional": ("positional encodings (model.positional)", POSITIONAL),
        "families": ("model families (model.arch)", FAMILIES),
        "tasks": ("tasks (data.task)", TASKS),
        "importers": ("Hugging Face checkpoints `attnkit import-hf` reads (config.json model_type)", IMPORTERS),
        "exporters": ("model families `attnkit export-hf` writes as Hugging Face checkpoints (model.arch)", EXPORTERS),
        "explanations": ("explanations beyond raw attention (attnkit align/evaluate --explain)", EXPLANATIONS),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("section", nargs="?", choices=SECTION_NAMES, help="show only this section")


def _line(entry: Entry) -> str:
    ref = f"\n      {expand(entry.reference)}" if entry.reference else ""
    return f"  {entry.name:<24} {entry.description}{ref}"


def run(args: argparse.Namespace) -> int:
    for name, (title, registry) in sections().items():
        if args.section not in (None, name):
            continue
        print(f"{name}: {title}")
        for entry in registry:
            print(_line(entry))
        print()
    print("full references: docs/references.md")
    return 0
