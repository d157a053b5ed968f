"""``attnkit export-hf RUN --out DIR [--overwrite]``: an attnkit run whose model family has a
Hugging Face counterpart, written as a checkpoint folder (``config.json``, ``model.safetensors``
under Hugging Face's names, tokenizer files) that ``transformers``' ``from_pretrained`` loads with
the same outputs. A family without a counterpart is one line on stderr (exit 2) naming the
exportable ones; nothing is written then.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import UserError, add_common

EPILOG = """examples:
  attnkit export-hf runs/minilm --out exported/minilm
  python -c "from transformers import AutoModel; AutoModel.from_pretrained('exported/minilm')\""""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="run folder (trained here or imported)")
    parser.add_argument("--out", required=True, metavar="DIR", help="Hugging Face checkpoint folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from ..pretrained import ConversionError
    from ..pretrained.convert import export_hf

    try:
        out = export_hf(Path(args.run_dir), Path(args.out), overwrite=args.overwrite)
    except ConversionError as err:
        raise UserError(str(err), code=2) from None
    print(out)
    return 0
