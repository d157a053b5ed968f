"""Sliding-window (local) self-attention in blocks, with optional global tokens [Beltagy20].

Query i attends key j when both are real positions and

- bidirectional: |i - j| <= w (the 2w + 1 keys centred on i),
- causal: 0 <= i - j <= w (i and the w keys before it),

where w = ``window`` is the half-width in tokens; in addition, with G = ``global_tokens`` > 0, the
first G positions attend every key and every query attends them (still only j <= i under
``causal``). :func:`window_mask` is that rule as a dense (T, T) mask, the reference the blocked
computation equals.

The blocked computation cuts the sequence into blocks of w positions: query block n attends key
blocks n - 1, n and n + 1 (n - 1 and n when causal), which hold every key within w of every query
of block n, and a band mask inside them keeps exactly the window. Scores are (B, Nh, T / w, w, 3w)
(2w when causal) instead of (B, Nh, T, T): memory and time O(T·w) per head. Global tokens add G
key columns to every block and G dense query rows: O(T·G) more.

References:
    [Beltagy20] I. Beltagy, M. E. Peters, A. Cohan. Longformer: The Long-Document Transformer.
    2020. arXiv:2004.05150.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .kernels import check_weights_size
from .normalize import masked_softmax

__all__ = ["check_window_options", "window_attention", "window_mask"]


def window_mask(t: int, window: int, *, causal: bool = False, global_tokens: int = 0, device=None) -> Tensor:
    """The dense mask of sliding-window attention (module docstring), ``True`` = may attend.

    Args:
        t: sequence length T.
        window: half-width w in tokens, >= 1.
        causal: keep only keys j <= i.
        global_tokens: G >= 0; positions 0..G-1 attend and are attended by every position.
        device: device of the mask.

    Returns:
        Boolean mask (T, T), [query i, key j].

    Raises:
        ValueError: if `window` < 1 or `global_tokens` < 0.
    """
    check_window_options(window, global_tokens)
    i = torch.arange(t, device=device)[:, None]
    j = torch.arange(t, device=device)[None, :]
    allowed = ((i - j).abs() <= window) | (i < global_tokens) | (j < global_tokens)
    return allowed & (j <= i) if causal else allowed


def window_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_padding: Tensor | None,
    causal: bool,
    need_weights: bool,
    window: int,
    global_tokens: int = 0,
    dropout_p: float = 0.0,
) -> tuple[Tensor, Tensor | None]:
    """Sliding-window self-attention computed in blocks of `window` positions [Beltagy20] Sec. 3.1.

    Softmax over the scores q·k / sqrt(Dh) of the keys the window allows (module docstring); it
    equals dense attention under :func:`window_mask` and the padding mask.

    Args:
        q: queries (B, Nh, T, Dh).
        k: keys (B, Nh, T, Dh).
        v: values (B, Nh, T, Dv).
        key_padding: (B, T) bool, True = real key, or None.
        causal: keys j <= i only.
        need_weights: also return the dense map (B, Nh, T, T), zero outside the window.
        window: half-width w in tokens, >= 1; also the block length.
        global_tokens: G >= 0, the number of leading global positions ([Beltagy20] Sec. 3.1,
            "global attention"), e.g. a class token.
        dropout_p: probability in [0, 1) of dropping each weight; pass 0 in evaluation.

    Returns:
        out (B, Nh, T, Dv) and weights (B, Nh, T, T) or None.

    Raises:
        ValueError: if `window` < 1 or `global_tokens` < 0, or `dropout_p` is not in [0, 1).
        InputError: for weights of more than MAX_WEIGHT_ENTRIES entries.

    Differences from the paper:
        our w is a half-width: Longformer's window size is 2w (w / 2 on each side there). Global
        positions are the first G (the paper lets the task choose them); the global attention
        uses the same projections as the local one (the paper learns separate Q_g, K_g, V_g).
        Dilated windows and the custom CUDA kernel are left out; the blocks are plain PyTorch
        (the paper's "chunks" implementation, Sec. 3.2, with non-overlapping blocks of w).
    """
    check_window_options(window, global_tokens)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be a probability in [0, 1), got {dropout_p}")
    b, nh, t, dh = q.shape
    w, g = window, min(global_tokens, t)
    if need_weights:
        check_weights_size(q, k)
    nb = math.ceil(t / w)  # blocks
    extra = nb * w - t  # padding at the end so that T is a multiple of w
    nblk = 2 if causal else 3  # key blocks per query block: n-1, n (, n+1)
    real = torch.ones(b, t, dtype=torch.bool, device=q.device) if key_padding is None else key_padding
    qb = F.pad(q * dh**-0.5, (0, 0, 0, extra)).unflatten(2, (nb, w))  # (B, Nh, nb, w, Dh)
    kb = _neighbour_blocks(F.pad(k, (0, 0, w, w + extra)), nb, w, nblk)  # (B, Nh, nb, nblk w, Dh)
    vb = _neighbour_blocks(F.pad(v, (0, 0, w, w + extra)), nb, w, nblk)  # (B, Nh, nb, nblk w, Dv)
    rb = _neighbour_blocks(F.pad(real, (w, w + extra))[..., None], nb, w, nblk)[..., 0]  # (B, nb, nblk w)
    qpos = torch.arange(nb * w, device=q.device).view(nb, w)  # (nb, w)
    kpos = torch.arange(nb, device=q.device)[:, None] * w - w + torch.arange(nblk * w, device=q.device)  # (nb, nblk w)
    diff = qpos[:, :, None] - kpos[:, None, :]  # (nb, w, nblk w): i - j
    band = (diff <= w) & (diff >= (0 if causal else -w)) & (kpos[:, None, :] >= g)  # global keys: own columns
    mask = band & rb[:, None, :, None, :]  # (B, 1, nb, w, nblk w)
    scores = qb @ kb.transpose(-1, -2)  # (B, Nh, nb, w, nblk w)
    if g:
        gkeys = torch.arange(g, device=q.device)
        gmask = real[:, None, None, None, :g] & ((gkeys <= qpos[..., None]) if causal else True)  # (B,1,nb,w,G)
        scores = torch.cat([scores, qb @ k[:, :, None, :g].transpose(-1, -2)], dim=-1)  # (B, Nh, nb, w, nblk w + G)
        mask = torch.cat([mask, gmask.expand(b, 1, nb, w, g)], dim=-1)
    weights = masked_softmax(scores, mask)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    local = weights[..., : nblk * w]
    out = local @ vb  # (B, Nh, nb, w, Dv)
    if g:
        out = out + weights[..., nblk * w :] @ v[:, :, None, :g]
    out = out.flatten(2, 3)[:, :, :t]  # (B, Nh, T, Dv)
    dense = _scatter_dense(local, kpos, t, w) if need_weights else None  # (B, Nh, T, T)
    if g:  # the global queries attend every key
        rows_mask = real[:, None, None, :]  # (B, 1, 1, T)
        if causal:
            rows_mask = rows_mask & torch.ones(g, t, dtype=torch.bool, device=q.device).tril()
        rows = masked_softmax(q[:, :, :g] * dh**-0.5 @ k.transpose(-1, -2), rows_mask)  # (B, Nh, G, T)
        if dropout_p > 0:
            rows = F.dropout(rows, p=dropout_p)
        out = torch.cat([rows @ v, out[:, :, g:]], dim=2)
        if dense is not None:
            cols = F.pad(weights[..., nblk * w :].flatten(2, 3)[:, :, :t], (0, t - g))  # (B, Nh, T, T)
            dense = torch.cat([rows, (dense + cols)[:, :, g:]], dim=2)
    return out, dense


def _neighbour_blocks(x: Tensor, nb: int, w: int, nblk: int) -> Tensor:
    """(..., (nb + 2) w, F) padded by w at the front -> (..., nb, nblk w, F): block n holds the
    positions of blocks n - 1 .. n - 2 + nblk of the unpadded sequence."""
    blocks = x.unflatten(-2, (nb + 2, w))  # (..., nb + 2, w, F)
    return torch.cat([blocks[..., i : i + nb, :, :] for i in range(nblk)], dim=-2)


def _scatter_dense(local: Tensor, kpos: Tensor, t: int, w: int) -> Tensor:
    """The block weights (B, Nh, nb, w, nblk w) as the dense map (B, Nh, T, T)."""
    b, nh, nb, _, width = local.shape
    index = (kpos + w)[:, None, :].expand(nb, w, width).reshape(1, 1, nb * w, width)  # columns, shifted by w
    dense = local.new_zeros(b, nh, nb * w, (nb + 2) * w)
    dense = dense.scatter(-1, index.expand(b, nh, -1, -1), local.flatten(2, 3))
    return dense[:, :, :t, w : w + t]


def check_window_options(window: int, global_tokens: int) -> None:
    """Raises ValueError unless `window` is an int >= 1 and `global_tokens` an int >= 0."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1 (half-width in tokens), got {window!r}")
    if isinstance(global_tokens, bool) or not isinstance(global_tokens, int) or global_tokens < 0:
        raise ValueError(f"global_tokens must be an int >= 0, got {global_tokens!r}")
