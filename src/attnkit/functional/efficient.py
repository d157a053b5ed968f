"""Attention kernels selectable by name: dense attention and the efficient mechanisms for long inputs.

:data:`ATTENTION_KERNELS` maps a name to an :class:`~attnkit.functional.kernels.AttentionKernel`;
every kernel has one signature (the contract is in :mod:`attnkit.functional.kernels`)::

    out, weights = ATTENTION_KERNELS.get(name)(
        q,                      # (B, Nh, Tq, Dh)
        k,                      # (B, Nh, Tk, Dh)
        v,                      # (B, Nh, Tk, Dv)
        key_padding=None,       # (B, Tk) bool, True = real key; None = all real
        causal=False,           # query i attends keys j <= i + Tk - Tq only
        need_weights=False,     # also return the dense map (B, Nh, Tq, Tk) the output implies
        **params,               # the kernel's own options, listed in kernel.options
    )                           # -> out (B, Nh, Tq, Dv), weights (B, Nh, Tq, Tk) or None

Padded keys get weight exactly 0; a query with no real key gets output 0, never NaN. A non-dense
kernel builds the weights only for inputs of at most
:data:`~attnkit.functional.kernels.MAX_WEIGHT_ENTRIES` entries (B·Nh·Tq·Tk) and refuses larger ones
with one line.

Registered here (a new kernel is its function in its own module plus one line below):

- ``dense``: :func:`attnkit.functional.attend`, the fused SDPA kernel (explicit path when weights
  are asked for). Options: ``dropout_p``.
- ``window``: sliding-window self-attention in blocks, optional global tokens
  (:mod:`attnkit.functional.window`, [Beltagy20]); exact: dense attention under the window mask.
  Options: ``window`` (required), ``global_tokens``, ``dropout_p``.
- ``linear``: linear attention with phi = elu + 1, chunked causal form
  (:mod:`attnkit.functional.linear`, [Katharopoulos20]); another attention, not an approximation of
  softmax. Options: ``chunk_size``.
- ``flex``: the sliding window (or none) through torch's flex attention with a block mask
  (:mod:`attnkit.functional.flex`); inference only on CPU. Options: ``window``, ``global_tokens``.
- ``performer``: :func:`attnkit.functional.performer.performer_attention`, FAVOR+ [Choromanski21].
  Options: ``num_features``, ``redraw``, ``seed``.
- ``nystrom``: :func:`attnkit.functional.nystrom.nystrom_attention`, Nyströmformer [Xiong21]; no
  causal form. Options: ``num_landmarks``, ``pinv_iterations``.

Option names that configs carry (``model.attention_<option>``, :mod:`attnkit.models.attention_kernels`):
``window``, ``global_tokens`` (sliding window, flex), ``chunk_size`` (linear attention),
``num_features`` (Performer), ``num_landmarks`` (Nyströmformer). ``dropout_p`` is set by
:class:`~attnkit.nn.multihead.MultiHeadAttention` from its ``dropout`` for kernels that declare
``dropout=True``.

References:
    [Beltagy20] I. Beltagy, M. E. Peters, A. Cohan. Longformer: The Long-Document Transformer.
    2020. arXiv:2004.05150.
    [Choromanski21] K. Choromanski et al. Rethinking Attention with Performers. ICLR 2021.
    arXiv:2009.14794.
    [Katharopoulos20] A. Katharopoulos, A. Vyas, N. Pappas, F. Fleuret. Transformers are RNNs:
    Fast Autoregressive Transformers with Linear Attention. ICML 2020. arXiv:2006.16236.
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Xiong21] Y. Xiong et al. Nyströmformer: A Nyström-Based Algorithm for Approximating
    Self-Attention. AAAI 2021. arXiv:2102.03902.
"""

from __future__ import annotations

from torch import Tensor

from ..registry import Registry
from .attention import attend
from .flex import flex_window_attention
from .kernels import AttentionKernel
from .linear import linear_attention
from .nystrom import nystrom_attention
from .performer import performer_attention
from .window import window_attention

__all__ = ["ATTENTION_KERNELS", "dense_attention"]


def dense_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    key_padding: Tensor | None,
    causal: bool,
    need_weights: bool,
    dropout_p: float = 0.0,
) -> tuple[Tensor, Tensor | None]:
    """Dense scaled dot-product attention [Vaswani17] Eq. 1, through :func:`attnkit.functional.attend`.

    Args:
        q: queries (B, Nh, Tq, Dh).
        k: keys (B, Nh, Tk, Dh).
        v: values (B, Nh, Tk, Dv).
        key_padding: (B, Tk) bool, True = real key, or None.
        causal: query i attends keys j <= i + Tk - Tq only.
        need_weights: also return the weights (explicit path).
        dropout_p: probability in [0, 1) of dropping each weight; pass 0 in evaluation.

    Returns:
        out (B, Nh, Tq, Dv) and weights (B, Nh, Tq, Tk) or None.
    """
    context, weights = attend(
        q, k, v, mask=key_padding, is_causal=causal, dropout_p=dropout_p, need_weights=need_weights
    )
    return context, weights


ATTENTION_KERNELS: Registry[AttentionKernel] = Registry("attention kernel")
ATTENTION_KERNELS.register(
    "dense",
    AttentionKernel(dense_attention, options=("dropout_p",), dropout=True),
    "dense scaled dot-product attention (fused SDPA; explicit path for weights)",
    "[Vaswani17] Eq. 1",
)
ATTENTION_KERNELS.register(
    "window",
    AttentionKernel(
        window_attention,
        options=("window", "global_tokens", "dropout_p"),
        required=("window",),
        self_only=True,
        dropout=True,
        weights="dense softmax map, zero outside the window",
    ),
    "sliding-window (local) self-attention in blocks, optional global tokens",
    "[Beltagy20] Sec. 3.1",
)
ATTENTION_KERNELS.register(
    "linear",
    AttentionKernel(
        linear_attention,
        options=("chunk_size",),
        exact=False,
        weights="implied map phi(q)·phi(k) / row sum, phi = elu + 1",
    ),
    "linear attention, feature map elu(x) + 1, chunked causal form",
    "[Katharopoulos20] Eqs. 6-10",
)
ATTENTION_KERNELS.register(
    "flex",
    AttentionKernel(
        flex_window_attention,
        options=("window", "global_tokens", "block_size"),
        self_only=True,
        no_backward_on=("cpu",),
        weights="dense softmax map, zero outside the window",
    ),
    "torch flex_attention with a sliding-window block mask (inference on CPU)",
    "[Beltagy20], [Dong24]",
)
ATTENTION_KERNELS.register(
    "performer",
    AttentionKernel(
        performer_attention,
        options=("num_features", "redraw", "seed"),
        exact=False,
        weights="implied map of the FAVOR+ estimate: non-negative, rows sum to 1",
    ),
    "Performer FAVOR+: softmax attention estimated with positive orthogonal random features",
    "[Choromanski21] Lemma 1, Sec. 2.2",
)
ATTENTION_KERNELS.register(
    "nystrom",
    AttentionKernel(
        nystrom_attention,
        options=("num_landmarks", "pinv_iterations"),
        exact=False,
        weights="implied Nystrom map F A+ B: may be negative, rows need not sum to 1",
        supports_causal=False,
        normalised=False,
    ),
    "Nystromformer: segment-mean landmarks and an iterative pseudo-inverse (bidirectional only)",
    "[Xiong21] Sec. 3",
)
