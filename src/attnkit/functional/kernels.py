"""The contract of an attention kernel: one signature for dense and efficient attention.

An attention kernel computes multi-head attention of already projected queries, keys and values.
Every kernel of :data:`attnkit.functional.efficient.ATTENTION_KERNELS` is called the same way::

    out, weights = kernel(q, k, v, key_padding=None, causal=False, need_weights=False, **params)

- ``q`` (B, Nh, Tq, Dh), ``k`` (B, Nh, Tk, Dh), ``v`` (B, Nh, Tk, Dv): floating point, one dtype
  and device. Softmax kernels score ``q·k / sqrt(Dh)`` (:func:`attnkit.functional.attend`'s
  ``scaled_dot``); a kernel with another score (linear attention's feature map) says so.
- ``key_padding`` (B, Tk) bool, ``True`` = a real key (attnkit's mask polarity), or None (all
  real). Padded keys get weight exactly 0 and contribute nothing to the output; a query row with
  no real key (in its window, before it under ``causal``) has output exactly 0 and an all-zero
  weight row, never NaN.
- ``causal``: query i may attend key j only for j <= i + Tk - Tq (the queries are the last Tq
  positions, as with a KV cache; for self-attention, j <= i). A kernel that supports causal
  masking only for Tq == Tk refuses the rest (``self_only``).
- ``need_weights``: also return ``weights`` (B, Nh, Tq, Tk), the dense attention map the output
  implies: ``out = weights @ v`` holds (up to rounding) for every kernel, so the pictures, rollout
  and the explorer work on any kernel. A kernel that does not hold the dense map builds it only for
  inputs small enough to draw: more than :data:`MAX_WEIGHT_ENTRIES` entries (B·Nh·Tq·Tk) is refused
  with one line (:func:`check_weights_size`). The dense kernel, which computes the map anyway, has
  no such limit. Without ``need_weights`` the second value is None.
- ``**params``: the kernel's own options (``window``, ``chunk_size``, ``dropout_p``, ...): plain
  numbers or booleans, so that configs can carry them (model keys ``attention_<param>``, see
  :mod:`attnkit.models.attention_kernels`). Each kernel lists the names it takes in
  :attr:`AttentionKernel.options`; any other name is a one-line error. A kernel that needs
  tensors built from its options (random features) builds them itself, deterministically from
  its options (layer 1 holds no state).
- Returns ``out`` (B, Nh, Tq, Dv) in the dtype of ``q``, and ``weights`` or None.

:class:`AttentionKernel` wraps a function of that signature with what it declares (its options,
whether it is exact, trains, takes dropout, needs Tq == Tk) and checks the common arguments once
before calling it, so the functions themselves see validated inputs. A new kernel is a pure
function of this signature in its own module of ``attnkit.functional`` plus one
``ATTENTION_KERNELS.register(...)`` line in :mod:`attnkit.functional.efficient`, and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import InputError

__all__ = [
    "AttentionKernel",
    "KernelFn",
    "MAX_WEIGHT_ENTRIES",
    "check_kernel_qkv",
    "check_weights_size",
    "key_mask",
    "upcast_half",
]

MAX_WEIGHT_ENTRIES = 2**24
"""Largest dense map B·Nh·Tq·Tk (16.8 M entries: 64 MiB in float32) a non-dense kernel builds
when asked for weights; e.g. B = 1, Nh = 4 and T = 2048."""


KernelFn = Callable[..., "tuple[Tensor, Tensor | None]"]
"""``(q, k, v, *, key_padding, causal, need_weights, **params) -> (out, weights | None)``; see the
module docstring (a Callable alias: each kernel spells out its own keyword options)."""


@dataclass(frozen=True)
class AttentionKernel:
    """An attention kernel and what it declares.

    Attributes:
        fn: the function, with the signature of the module docstring.
        options: names of the ``**params`` it takes (config keys ``model.attention_<name>``).
        required: those of `options` it cannot run without (the sliding window's ``window``).
        exact: True when its output equals dense softmax attention under its mask (dense,
            sliding window, flex); False for another attention (linear) or an approximation
            (Performer, Nyström).
        no_backward_on: device types (``"cpu"``, ...) where it has no backward pass; there it refuses
            inputs that require grad with one line (flex attention on CPU).
        self_only: True when it needs Tq == Tk (self-attention without a cache).
        supports_causal: False when it has no causal form (Nyström: landmarks average every
            position); then ``causal=True`` is refused with one line (:meth:`check_causal`).
        dropout: True when it takes ``dropout_p`` (attention dropout on its weights).
        weights: what the returned weights are, for people and reports ("dense softmax map",
            "the window's weights, zero outside it", ...).
        normalised: True when its weights are non-negative and each row sums to 1 over the keys
            it sees; False where they need not (Nyström's implied map F A^+ B).
    """

    fn: KernelFn
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    exact: bool = True
    no_backward_on: tuple[str, ...] = ()
    self_only: bool = False
    supports_causal: bool = True
    dropout: bool = False
    weights: str = "dense softmax map"
    normalised: bool = True

    def __call__(
        self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        *,
        key_padding: Tensor | None = None,
        causal: bool = False,
        need_weights: bool = False,
        **params: Any,
    ) -> tuple[Tensor, Tensor | None]:
        """Check the common arguments, then call :attr:`fn` (see the module docstring).

        Raises:
            ValueError: for q, k, v or `key_padding` of the wrong shapes or dtypes, an option the
                kernel does not take or a required one missing, Tq != Tk for a ``self_only`` kernel,
                or causal masking with Tk < Tq or by a kernel without a causal form.
            InputError: for weights asked of a non-dense kernel above :data:`MAX_WEIGHT_ENTRIES`,
                for inputs that require grad given to a kernel that cannot train here, or for
                causal masking asked of a kernel without a causal form.
        """
        unknown = sorted(set(params) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise ValueError(f"attention kernel option(s) {', '.join(unknown)} not taken here; it takes: {takes}")
        missing = [name for name in self.required if params.get(name) is None]
        if missing:
            raise ValueError(f"this attention kernel needs the option(s) {', '.join(missing)}")
        _check_qkv(q, k, v, key_padding)
        tq, tk = q.shape[-2], k.shape[-2]
        if self.self_only and tq != tk:
            raise ValueError(
                f"this attention kernel is for self-attention without a cache (Tq == Tk), got Tq={tq}, Tk={tk}; "
                "use the dense kernel for cross-attention and cached decoding"
            )
        self.check_causal(causal)
        if causal and tk < tq:
            raise ValueError(f"causal attention needs Tk >= Tq, got Tq={tq}, Tk={tk}")
        if q.device.type in self.no_backward_on and torch.is_grad_enabled() and any(x.requires_grad for x in (q, k, v)):
            raise InputError(
                f"this attention kernel has no backward pass on {q.device.type}; use it for inference "
                "(model.eval() under torch.no_grad()) or choose another kernel for training"
            )
        return self.fn(q, k, v, key_padding=key_padding, causal=causal, need_weights=need_weights, **params)

    def check_causal(self, causal: bool) -> None:
        """Refuse causal masking by a kernel without a causal form (:attr:`supports_causal`); a
        layer that is built causal asks this when it is built, before any call.

        Raises:
            InputError: for ``causal=True`` with ``supports_causal=False``.
        """
        if causal and not self.supports_causal:
            raise InputError(
                "this attention kernel has no causal form; choose a causal one (dense, window, linear, performer)"
            )


def check_weights_size(q: Tensor, k: Tensor) -> None:
    """Refuse to build a dense map of more than :data:`MAX_WEIGHT_ENTRIES` entries.

    Args:
        q: queries (B, Nh, Tq, Dh).
        k: keys (B, Nh, Tk, Dh).

    Raises:
        InputError: if B·Nh·Tq·Tk > :data:`MAX_WEIGHT_ENTRIES`.
    """
    b, nh, tq = q.shape[0], q.shape[1], q.shape[2]
    entries = b * nh * tq * k.shape[-2]
    if entries > MAX_WEIGHT_ENTRIES:
        raise InputError(
            f"the dense attention map of this input has {entries:,} entries (B={b}, Nh={nh}, Tq={tq}, "
            f"Tk={k.shape[-2]}), above the {MAX_WEIGHT_ENTRIES:,} an efficient kernel draws; "
            "ask for weights on a shorter input or a smaller batch"
        )


def check_kernel_qkv(q: Tensor, k: Tensor, v: Tensor) -> tuple[int, int, int, int]:
    """The shape checks of a kernel function called directly, without :class:`AttentionKernel`.

    Args:
        q: queries (B, Nh, Tq, Dh).
        k: keys (B, Nh, Tk, Dh).
        v: values (B, Nh, Tk, Dv).

    Returns:
        ``(B, Nh, Tq, Dh)``.

    Raises:
        InputError: if q, k or v is not 4-D, or their shapes disagree.
    """
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise InputError(f"q, k, v must be (B, Nh, T, D), got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    b, nh, tq, dh = q.shape
    if k.shape[:2] != (b, nh) or k.shape[3] != dh or v.shape[:3] != k.shape[:3]:
        raise InputError(
            f"q (B, Nh, Tq, Dh), k (B, Nh, Tk, Dh) and v (B, Nh, Tk, Dv) disagree: got {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    return b, nh, tq, dh


def upcast_half(q: Tensor, k: Tensor, v: Tensor, key_padding: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The preamble of a kernel that computes in at least float32 (Performer, Nyström).

    Args:
        q: queries (B, Nh, Tq, Dh).
        k: keys (B, Nh, Tk, Dh).
        v: values (B, Nh, Tk, Dv).
        key_padding: (B, Tk) bool, ``True`` = real key, or None.

    Returns:
        ``(q, k, v, real)``: q, k, v in float32 when they are half precision (float16, bfloat16),
        else unchanged; ``real`` (B, Tk) bool on q's device, ``True`` = real key (all True for
        None). The kernel casts its results back with ``.to(q.dtype)`` of the caller's q.
    """
    work = torch.promote_types(q.dtype, torch.float32)
    real = torch.ones(q.shape[0], k.shape[2], dtype=torch.bool, device=q.device) if key_padding is None else key_padding
    return q.to(work), k.to(work), v.to(work), real.to(q.device)


def key_mask(key_padding: Tensor | None, tq: int, tk: int, *, causal: bool, device: torch.device) -> Tensor | None:
    """The dense boolean mask (B|1, 1, Tq, Tk), ``True`` = may attend, of padding and causality.

    Args:
        key_padding: (B, Tk) bool, ``True`` = real key, or None.
        tq: number of queries Tq.
        tk: number of keys Tk.
        causal: also forbid j > i + Tk - Tq.
        device: device of the mask.

    Returns:
        The mask, or None when nothing is masked.
    """
    mask = None if key_padding is None else key_padding[:, None, None, :]  # (B, 1, 1, Tk)
    if causal:
        tri = torch.ones(tq, tk, dtype=torch.bool, device=device).tril(diagonal=tk - tq)[None, None]
        mask = tri if mask is None else mask & tri
    return mask


def _check_qkv(q: Tensor, k: Tensor, v: Tensor, key_padding: Tensor | None) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            "attention kernels take q (B, Nh, Tq, Dh), k (B, Nh, Tk, Dh), v (B, Nh, Tk, Dv), got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            "q (B, Nh, Tq, Dh), k (B, Nh, Tk, Dh) and v (B, Nh, Tk, Dv) disagree: "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if not q.is_floating_point() or k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"q, k, v must share one floating-point dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if key_padding is not None:
        if key_padding.dtype != torch.bool:
            raise ValueError(f"key_padding must be torch.bool with True = real key, got {key_padding.dtype}")
        if key_padding.shape != (q.shape[0], k.shape[-2]):
            raise ValueError(
                f"key_padding must be (B, Tk) = ({q.shape[0]}, {k.shape[-2]}), got {tuple(key_padding.shape)}"
            )
