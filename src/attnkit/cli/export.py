"""``attnkit export RUN --format ctranslate2 [--out DIR] [--align-layer N] [--align-head H]
[--quantization TYPE]``: a trained run written for an inference engine.

``ctranslate2``: a text Transformer run (sinusoidal, learned, no or RoPE positions; full,
grouped-query or multi-query heads; pre- or post-LN; tied, shared or separate embeddings) as a
CTranslate2 model folder (default ``RUN/export/ctranslate2``) with the run's vocabularies and
tokenizer files; the decoder layer and head whose cross-attention CTranslate2 returns come from
the flags, else the run's ``alignment.json`` (``attnkit evaluate --split dev --choose``), else the
last layer's mean. ``attnkit translate --model RUN --engine ctranslate2`` then translates with it.
What cannot be converted (RNN models, ALiBi, ...) is one line on stderr (exit 2) saying why.

``onnx``: an image classifier (``cnn`` with any attention, ``vit``), a Transformer's encoder or a
Transformer tagger as ``model.onnx`` (default ``RUN/export/onnx``) with dynamic batch and length
axes, its attention weights as named outputs, ``attnkit-export.json`` (inputs, outputs, axes,
opset, task, family, classes) and the vocabularies; checked with onnxruntime before it is written
(:mod:`attnkit.export.onnx`). Other models: one line on stderr (exit 2) saying why.
"""

from __future__ import annotations

import argparse
import logging

from .common import add_common, load_run

EPILOG = """examples:
  attnkit export runs/bible-transformer --format ctranslate2
  attnkit export runs/dates-transformer --format ctranslate2 --out deploy/dates --align-layer -2 --align-head 1
  attnkit translate --model runs/dates-transformer --engine ctranslate2 --locale de_DE "3. Mai 1979"
  attnkit export runs/fashion-cnn-cbam --format onnx
  attnkit export runs/dates-transformer --format onnx --out deploy/dates-encoder"""

FORMATS = ("ctranslate2", "onnx")  # --format choices; each is a module of attnkit.export
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16")

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="trained run folder")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the engine to export for")
    parser.add_argument("--out", metavar="DIR", help="folder to write (default: RUN/export/FORMAT)")
    parser.add_argument(
        "--align-layer",
        type=int,
        metavar="N",
        help="decoder layer whose cross-attention the engine returns (negative: from the end; "
        "default: the run's alignment.json, else the last)",
    )
    parser.add_argument(
        "--align-head",
        metavar="H",
        help="head of that layer the engine returns: an index or 'mean' (default: the run's alignment.json, else mean)",
    )
    parser.add_argument(
        "--quantization",
        choices=QUANTIZATIONS,
        help="store the weights in this type (default: float32, the outputs attnkit gives)",
    )
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    if args.format == "onnx":
        return _run_onnx(args)
    from ..export.ctranslate2 import export_ctranslate2

    run_ = load_run(args.run_dir)  # on the CPU: the weights are copied out
    out = export_ctranslate2(
        run_, args.out, align_layer=args.align_layer, align_head=args.align_head, quantization=args.quantization
    )
    log.info("CTranslate2 model written to %s", out)
    print(out)
    return 0


def _run_onnx(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..export.onnx import export_onnx

    flags = (
        ("--align-layer", args.align_layer),
        ("--align-head", args.align_head),
        ("--quantization", args.quantization),
    )
    given = [flag for flag, value in flags if value is not None]
    if given:
        raise ConfigError(f"{given[0]} applies to --format ctranslate2 only; leave it out for onnx")
    if not args.verbose:  # the exporter's own chatter (initializer de-duplication, optional torchvision ops)
        for name in ("onnx_ir", "onnxscript", "torch.onnx", "torch.export"):
            logging.getLogger(name).setLevel(logging.ERROR)
    out = export_onnx(load_run(args.run_dir), args.out)
    written = ", ".join(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()))
    log.info("ONNX model written to %s: %s", out, written)
    print(out)
    return 0
