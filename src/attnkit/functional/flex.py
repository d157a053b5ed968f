"""Sliding-window attention through :func:`torch.nn.attention.flex_attention.flex_attention` with a
block mask, for inference.

The mask is :func:`attnkit.functional.window.window_mask`'s rule (half-width w, optional G global
tokens, causal or not) and the padding, written as flex attention's ``mask_mod``;
:func:`~torch.nn.attention.flex_attention.create_block_mask` turns it into a block-sparse mask so
that blocks outside every window are skipped. Without a window it is dense attention under the
padding (and causal) mask.

Where it runs: torch >= 2.5. On CPU, torch 2.13 runs the forward pass only (its backward raises
``NotImplementedError``, pytorch #148752), so the kernel declares ``no_backward_on=("cpu",)``
and refuses inputs that require grad there; on CUDA it trains. Called eagerly, flex attention
materialises the scores (torch warns once); wrap the model in :func:`torch.compile` for the
fused, block-sparse kernel (the first call compiles, about a minute on CPU).

References:
    [Beltagy20] I. Beltagy, M. E. Peters, A. Cohan. Longformer: The Long-Document Transformer.
    2020. arXiv:2004.05150.
    [Dong24] J. Dong, B. Feng, D. Guessous, Y. Liang, H. He. Flex Attention: A Programming Model
    for Generating Optimized Attention Kernels. 2024. arXiv:2412.05496.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .kernels import check_weights_size, key_mask
from .normalize import masked_softmax
from .window import check_window_options, window_mask

__all__ = ["flex_window_attention"]


def flex_window_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_padding: Tensor | None,
    causal: bool,
    need_weights: bool,
    window: int | None = None,
    global_tokens: int = 0,
    block_size: int = 128,
) -> tuple[Tensor, Tensor | None]:
    """Softmax attention under the window, padding and causal masks, by flex attention [Dong24].

    Args:
        q: queries (B, Nh, T, Dh).
        k: keys (B, Nh, T, Dh).
        v: values (B, Nh, T, Dv).
        key_padding: (B, T) bool, True = real key, or None.
        causal: keys j <= i only.
        need_weights: also return the dense map (B, Nh, T, T), computed explicitly (small inputs).
        window: half-width w >= 1 in tokens ([Beltagy20]; :func:`~attnkit.functional.window.window_mask`),
            or None for no window.
        global_tokens: G >= 0 leading global positions (with a window only).
        block_size: rows and columns per block of the block mask (flex attention's BLOCK_SIZE).

    Returns:
        out (B, Nh, T, Dv) and weights (B, Nh, T, T) or None; rows without a real key give 0.

    Raises:
        ValueError: for a window < 1, `global_tokens` < 0 or given without a window, or a torch
            without flex attention.
        InputError: for weights of more than MAX_WEIGHT_ENTRIES entries.

    Differences from the paper:
        as :func:`~attnkit.functional.window.window_attention`; the blocks are flex attention's
        (fixed `block_size`, partial blocks masked per element), not w.
    """
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    except ImportError:  # torch < 2.5
        raise ValueError("the flex attention kernel needs torch >= 2.5; choose the window kernel") from None
    if window is None:
        if global_tokens:
            raise ValueError("global_tokens needs a window")
    else:
        check_window_options(window, global_tokens)
    if need_weights:
        check_weights_size(q, k)
    b, t = q.shape[0], q.shape[-2]
    real = key_padding

    def mask_mod(bi: Tensor, hi: Tensor, qi: Tensor, kj: Tensor) -> Tensor:
        allowed = qi >= 0  # every (query, key) pair, as a tensor
        if window is not None:
            allowed = ((qi - kj).abs() <= window) | (qi < global_tokens) | (kj < global_tokens)
        if causal:
            allowed = allowed & (kj <= qi)
        if real is not None:
            allowed = allowed & real[bi, kj]
        return allowed

    if not torch.is_grad_enabled():  # torch refuses inputs that require grad on CPU even under no_grad
        q, k, v = q.detach(), k.detach(), v.detach()
    block_mask = create_block_mask(mask_mod, b, None, t, t, device=q.device, BLOCK_SIZE=block_size)
    out = flex_attention(q, k, v, block_mask=block_mask)
    assert isinstance(out, Tensor)  # without return_lse / return_aux
    weights = None
    if need_weights:
        mask = key_mask(key_padding, t, t, causal=causal, device=q.device)
        if window is not None:
            wmask = window_mask(t, window, causal=causal, global_tokens=global_tokens, device=q.device)
            mask = wmask if mask is None else mask & wmask
        weights = masked_softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, mask)
    return out, weights
