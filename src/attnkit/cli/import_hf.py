"""``attnkit import-hf DIR --out RUN [--overwrite]``: a local Hugging Face checkpoint folder
(``config.json``, ``model.safetensors``, tokenizer files) as an attnkit run folder, built from
attnkit's own modules; ``predict``, ``evaluate``, ``explore`` and the Python API then use it like
any run. Never unpickles: a folder with only ``pytorch_model.bin`` is refused with a line saying
how to convert it. Problems with the folder are one line on stderr, exit 2, and nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UserError, add_common

EPILOG = """examples:
  attnkit import-hf ~/models/all-MiniLM-L6-v2 --out runs/minilm
  attnkit predict --model runs/minilm "The cat sat on the mat." --json
  attnkit import-hf ~/models/gpt2 --out runs/gpt2 --overwrite
  attnkit list importers    # the architectures it reads"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="DIR", help="Hugging Face checkpoint folder (save_pretrained)")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from ..pretrained import ConversionError
    from ..pretrained.convert import import_hf

    try:
        out = import_hf(Path(args.checkpoint), Path(args.out), overwrite=args.overwrite)
    except ConversionError as err:
        raise UserError(str(err), code=2) from None
    print(out)
    return 0
