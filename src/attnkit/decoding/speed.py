"""The speed options of :class:`~attnkit.decoding.options.DecodeOptions` that change the model
decoded with: dynamic int8 quantisation of its linear layers and a compiled decoder step.

:func:`prepare` gives the model :func:`~attnkit.decoding.decode` decodes with. Both are also
public so that a caller decoding many times (a benchmark, a server) prepares the model once and
decodes with those options off: quantising copies the model, and compiling costs the first
batches seconds to minutes.

References:
    [Jacob18] B. Jacob, S. Kligys, B. Chen, M. Zhu et al. Quantization and Training of Neural
    Networks for Efficient Integer-Arithmetic-Only Inference. CVPR 2018. arXiv:1712.05877.
"""

from __future__ import annotations

import warnings
from typing import Any, cast

import torch
from torch import nn

from .options import DecodeOptionError, DecodeOptions

__all__ = ["prepare", "quantized", "CompiledStep"]


def quantized(model: nn.Module) -> nn.Module:
    """A copy of `model` whose ``nn.Linear`` layers hold int8 weights (per-tensor scales) and
    quantise their inputs per call (``torch.ao.quantization.quantize_dynamic``) [Jacob18] Sec. 2.
    Embeddings, LayerNorms and attention stay float32; `model` is not changed.

    Differences from the paper:
        Activations are quantised on the fly with a range taken from each batch (dynamic
        quantisation), not with ranges learned during quantisation-aware training.
    """
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice: it still works as documented
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


class CompiledStep(nn.Module):
    """`model` with its ``step`` compiled by ``torch.compile`` (dynamic shapes, `mode` as
    torch's); ``encode``, ``init_state``, ``fold_beams`` and every other attribute are the
    model's own. The compiled code is cached by torch per code object, so wrapping the same
    model again does not compile again.

    Args:
        model: a step decoder (``encode`` / ``init_state`` / ``step``).
        mode: ``"default"`` or ``"reduce-overhead"`` (CUDA graphs on a GPU).
    """

    def __init__(self, model: nn.Module, mode: str = "default") -> None:
        super().__init__()
        self.model = model
        self.mode = mode
        self._step: Any = None

    def step(self, *args: Any, **kwargs: Any) -> Any:
        """The model's ``step``, compiled (on the first call: importing the compiler takes seconds)."""
        if self._step is None:
            self._step = torch.compile(cast(Any, self.model).step, mode=self.mode, dynamic=True)
        return self._step(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["model"], name)


def prepare(model: nn.Module, options: DecodeOptions) -> nn.Module:
    """The model to decode with under `options`: `model` itself, its :func:`quantized` copy
    (``quantize="int8"``), and/or a :class:`CompiledStep` around it (``compile_step``).

    Raises:
        DecodeOptionError: for int8 quantisation of a model that is not on the CPU.
    """
    if options.quantize == "int8":
        device = next(model.parameters()).device
        if device.type != "cpu":
            raise DecodeOptionError(
                f"int8 quantisation runs on the CPU only; the model is on {device}: decode on the CPU "
                "or pass quantize none",
                "quantize",
            )
        model = quantized(model)
    if options.compile_step != "off":
        model = CompiledStep(model, options.compile_step)
    return model
