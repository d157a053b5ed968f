"""Inverted dropout [Srivastava14] with a cheaper random mask on the CPU.

``torch.nn.functional.dropout`` draws its CPU mask with ``bernoulli_``: one 32-bit draw of the
Mersenne twister, converted to a float and compared, per element. It was the largest cost of a
Transformer training step on this project's CPU after the matrix products (17 % of the Bible
Transformer's bfloat16 step; see docs/benchmarks.md). Here the mask comes from 64-bit draws of
the same generator cut into four 16-bit numbers, each compared with an integer threshold: a
quarter of the draws, no float conversion; forward + backward of one dropout on (95, 21, 1024)
takes 0.55-0.65x torch's time on one thread of this project's CPU.

Differences from the paper (and from ``torch.nn.functional.dropout``):
    On the CPU the drop probability is rounded to a multiple of 2**-16 (0.1 becomes
    6554 / 65536 = 0.100006), and survivors are scaled by 1 / (1 - the rounded probability), so
    the expected output still equals the input exactly. Masks are drawn from torch's default CPU
    generator, so ``torch.manual_seed`` and saved generator states reproduce them, but they are
    not the masks torch's own dropout draws for the same seed. On other devices this is
    ``torch.nn.functional.dropout``.

References:
    [Srivastava14] N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov.
    Dropout: A Simple Way to Prevent Neural Networks from Overfitting. JMLR 15, 2014. Sec. 4
    (inverted dropout: scaling at training time instead of at test time).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Dropout", "dropout", "drop_threshold"]

_LEVELS = 2**16  # the mask's resolution: 16-bit numbers


def drop_threshold(p: float) -> int:
    """The number of the 2**16 equally likely 16-bit values that drop an element: ``round(p * 2**16)``.
    An element is dropped with probability ``drop_threshold(p) / 2**16``.

    Raises:
        ValueError: if `p` is outside [0, 1].
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    return round(p * _LEVELS)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Zero each element of `x` with probability `p` and scale the rest by 1 / (1 - p) [Srivastava14].

    Args:
        x: any shape, floating point.
        p: drop probability in [0, 1] (rounded to a multiple of 2**-16 on the CPU; see the module
            docstring).
        training: False (evaluation) returns `x` itself.

    Returns:
        A tensor of `x`'s shape and dtype; differentiable (the gradient is the mask times the
        scale).

    Raises:
        ValueError: if `p` is outside [0, 1].
    """
    dropped = drop_threshold(p)
    if not training or dropped == 0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    if dropped == _LEVELS:
        return x * 0.0
    n = x.numel()
    draws = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None)  # 64 uniform bits each
    numbers = draws.view(torch.int16)[:n].view(x.shape)  # uniform on [-2**15, 2**15)
    scale = torch.tensor(_LEVELS / (_LEVELS - dropped), dtype=x.dtype)
    mask = torch.where(numbers >= dropped - 2**15, scale, torch.zeros((), dtype=x.dtype))  # 0 or the scale
    return x * mask  # the backward pass is one product with the saved mask, as torch's


class Dropout(nn.Dropout):
    """``torch.nn.Dropout`` with :func:`dropout`'s cheaper CPU mask; the same module otherwise
    (``p``, ``train()`` / ``eval()``, no parameters, no state). ``inplace`` is not supported.

    Shapes: any input, output of the same shape.

    Raises:
        ValueError: on construction, if `p` is outside [0, 1] or `inplace` is True.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        if inplace:
            raise ValueError("attnkit's Dropout has no in-place form; use inplace=False")
        super().__init__(p)

    def forward(self, input: Tensor) -> Tensor:
        return dropout(input, self.p, self.training)
