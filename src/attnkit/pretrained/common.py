"""Helpers the converters share: taking weights by Hugging Face name, activations, tokenizer files."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch
from torch import Tensor

from .base import Checkpoint, ConversionError

__all__ = ["Weights", "HF_ACTIVATIONS", "activation_name", "tokenizer_files", "copy_tokenizer_files", "TOKENIZER_FILES"]

#: Hugging Face activation names -> attnkit's (``gelu_new`` is GPT-2's tanh approximation)
_FROM_HF = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
#: attnkit activation -> the Hugging Face name computing exactly the same function
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu", "silu": "silu"}

#: the tokenizer files copied from a checkpoint folder into the run's ``tokenizer/`` folder
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def activation_name(ckpt: Checkpoint, name: str) -> str:
    """attnkit's name of the Hugging Face activation `name`.

    Raises:
        ConversionError: for an activation attnkit lacks.
    """
    try:
        return _FROM_HF[name]
    except (KeyError, TypeError):
        raise ConversionError(
            f"{ckpt.path}: activation {name!r} is not supported; attnkit has {', '.join(_FROM_HF)}"
        ) from None


class Weights:
    """A checkpoint's tensors by name, taken one by one so that what is left over can be reported.

    Args:
        ckpt: the checkpoint.
        prefix: stripped from names that start with it (``bert.`` in ``BertForMaskedLM``).
        ignore: names (after stripping) that are buffers, not weights (``embeddings.position_ids``).
    """

    def __init__(self, ckpt: Checkpoint, *, prefix: str = "", ignore: tuple[str, ...] = ()) -> None:
        self.path = ckpt.path
        self.left = {
            (k[len(prefix) :] if prefix and k.startswith(prefix) else k): v
            for k, v in ckpt.weights.items()
            if not any(k.endswith(name) for name in ignore)
        }

    def has(self, name: str) -> bool:
        return name in self.left

    def take(self, name: str) -> Tensor:
        """The tensor `name` (floating point ones as float32), removed from what is left.

        Raises:
            ConversionError: if the checkpoint has no such tensor.
        """
        try:
            t = self.left.pop(name)
        except KeyError:
            raise ConversionError(f"{self.path}: weight {name} not found; the checkpoint is incomplete") from None
        return t.float() if t.is_floating_point() else t

    def linear(self, ours: str, theirs: str) -> dict[str, Tensor]:
        """``{ours}.weight`` and ``{ours}.bias`` from ``{theirs}.weight`` and ``{theirs}.bias``."""
        return {f"{ours}.{part}": self.take(f"{theirs}.{part}") for part in ("weight", "bias")}

    def check_tied(self, name: str, embeddings: Tensor) -> None:
        """Take an output layer ``{name}.weight`` that must equal the token `embeddings` (attnkit ties
        them); its ``{name}.bias`` duplicates the head's bias and is dropped.

        Raises:
            ConversionError: for an output layer that is not tied.
        """
        if self.has(f"{name}.weight") and not torch.equal(self.take(f"{name}.weight"), embeddings):
            raise ConversionError(
                f"{self.path}: {name}.weight differs from the token embeddings; attnkit ties them (untied heads "
                "are not supported)"
            )
        self.left.pop(f"{name}.bias", None)

    def report_unused(self, log: logging.Logger) -> None:
        """Log a warning naming the tensors no attnkit parameter took (e.g. a next-sentence head)."""
        if self.left:
            names = sorted(self.left)
            log.warning(
                "%s: %d tensors have no place in attnkit's model and are left out: %s%s",
                self.path,
                len(names),
                ", ".join(names[:5]),
                ", ..." if len(names) > 5 else "",
            )


def tokenizer_files(ckpt: Checkpoint, preferred: tuple[str, ...]) -> tuple[dict[str, Path], str]:
    """The tokenizer files of the checkpoint to copy into the run (``tokenizer/NAME``), and the one
    the task reads (the first of `preferred` present; ``vocab.json`` needs ``merges.txt`` too).

    Raises:
        ConversionError: if the folder has none of `preferred`.
    """
    path = ckpt.path
    usable = [
        name
        for name in preferred
        if (path / name).is_file() and (name != "vocab.json" or (path / "merges.txt").is_file())
    ]
    if not usable:
        raise ConversionError(
            f"{path} has no tokenizer file; attnkit reads one of: {', '.join(preferred)} "
            "(vocab.json with merges.txt); save the tokenizer there with save_pretrained"
        )
    files = {f"tokenizer/{name}": path / name for name in TOKENIZER_FILES if (path / name).is_file()}
    return files, f"tokenizer/{usable[0]}"


def copy_tokenizer_files(tokenizer: Path, out: Path) -> None:
    """Copy the tokenizer files of a run (those beside its tokenizer file `tokenizer`) into `out`."""
    for name in TOKENIZER_FILES:
        source = tokenizer.parent / name
        if source.is_file():
            shutil.copyfile(source, out / name)
