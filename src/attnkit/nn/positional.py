"""Position information for the Transformer: added to embeddings, rotated into q/k, or biased scores.

Self-attention alone is equivariant to permuting positions, so a Transformer needs one of:

- ``"sinusoidal"``, ``"learned"``: a vector per absolute position added to the token embeddings
  (:attr:`PositionKind.EMBEDDINGS`);
- ``"rope"``: queries and keys rotated by an angle proportional to their position, so that their
  dot product depends only on the offset between them (:attr:`PositionKind.ROTARY`);
- ``"alibi"``: a per-head penalty on the scores, linear in the query-key distance
  (:attr:`PositionKind.SCORE_BIAS`);
- ``"none"``: nothing (:attr:`PositionKind.NONE`).

Every class carries ``kind``, which tells the Transformer where to apply it. Select one by name
with :data:`POSITIONAL` or build it from model sizes with :func:`build_positional`. Positions are
absolute token indices counted from 0; ``offset`` is the position of the first of the T items
passed in (the number of tokens already decoded when a KV cache is used).

Precision: sinusoidal and rotary tables are built in float64 and kept as non-persistent buffers
(absent from ``state_dict``, rebuilt by the constructor); like any buffer they follow
``module.to(dtype)``. They are cast to the input's dtype when used.

References:
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Gehring17] J. Gehring, M. Auli, D. Grangier, D. Yarats, Y. N. Dauphin. Convolutional
    Sequence to Sequence Learning. ICML 2017. arXiv:1705.03122.
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
    [Su21] J. Su, Y. Lu, S. Pan, A. Murtadha, B. Wen, Y. Liu. RoFormer: Enhanced Transformer with
    Rotary Position Embedding. 2021. arXiv:2104.09864.
    [Press21] O. Press, N. A. Smith, M. Lewis. Train Short, Test Long: Attention with Linear
    Biases Enables Input Length Extrapolation. ICLR 2022. arXiv:2108.12409.
"""

from __future__ import annotations

import enum
import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..registry import Registry
from .dropout import Dropout

__all__ = [
    "PositionKind",
    "SinusoidalPositionalEncoding",
    "HalvesSinusoidalEncoding",
    "LearnedPositionalEncoding",
    "RotaryEmbedding",
    "ALiBi",
    "NoPositionalEncoding",
    "PositionalModule",
    "POSITIONAL",
    "build_positional",
]


class PositionKind(enum.Enum):
    """Where a positional module acts in a Transformer."""

    EMBEDDINGS = "embeddings"  # x = pe(embeddings, offset) before the first layer
    ROTARY = "rotary"  # q, k = pe.rotate(q, offset), pe.rotate(k, offset) inside attention
    SCORE_BIAS = "score-bias"  # scores += pe.bias(Tq, Tk) inside attention, before the mask
    NONE = "none"  # nothing to do


class PositionalModule(nn.Module):
    """Base of the modules in :data:`POSITIONAL`: ``kind`` says where the module acts."""

    kind: ClassVar[PositionKind]


def _check_span(offset: int, length: int, max_len: int, cls: str) -> None:
    """Positions offset .. offset + length - 1 must lie in the table [0, max_len)."""
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if offset + length > max_len:
        raise ValueError(
            f"positions {offset}..{offset + length - 1} exceed the table of {cls} "
            f"(max_len={max_len}); raise max_len to at least {offset + length}"
        )


def _check_embeddings(x: Tensor, d_model: int) -> None:
    if x.dim() != 3 or x.shape[-1] != d_model:
        raise ValueError(f"expected embeddings of shape (B, T, D) with D = d_model = {d_model}, got {tuple(x.shape)}")


def sinusoid_table(max_len: int, d_model: int) -> Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) = cos(same) [Vaswani17] Sec. 3.5.

    Returns:
        float64 table (max_len, D); an odd D ends with a sine column.
    """
    pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # 2i for each pair, (ceil(D/2),)
    angle = pos / 10000.0 ** (two_i / d_model)  # (max_len, ceil(D/2))
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table


class SinusoidalPositionalEncoding(PositionalModule):
    """Fixed sinusoids added to the embeddings [Vaswani17] Sec. 3.5.

    Sine and cosine alternate along D as in the paper's formula (columns 2i and 2i + 1 share one
    frequency), not the concatenated [sin; cos] halves of some implementations.

    Args:
        d_model: embedding width, D (the paper's d_model).
        max_len: number of positions in the table; positions must be < max_len.
        dropout: probability in [0, 1] of zeroing an element of the sum (the paper's P_drop
            on "the sums of the embeddings and the positional encodings", Sec. 5.4).

    Raises:
        ValueError: if `d_model` or `max_len` is not positive.
    """

    kind: ClassVar[PositionKind] = PositionKind.EMBEDDINGS
    table: Tensor  # buffer, (max_len, D)

    def __init__(self, d_model: int, *, max_len: int = 4096, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ValueError(f"d_model and max_len must be positive, got {d_model} and {max_len}")
        self.d_model, self.max_len = d_model, max_len
        self.dropout = Dropout(dropout)
        self.register_buffer("table", sinusoid_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Add the encodings of positions offset .. offset + T - 1, then dropout.

        Args:
            x: token embeddings (already scaled, e.g. by sqrt(D), if desired), (B, T, D).
            offset: position of ``x[:, 0]``; tokens already decoded when a KV cache is used.

        Returns:
            x + PE[offset : offset + T], (B, T, D), in the dtype of `x`.

        Raises:
            ValueError: if `x` is not (B, T, D), `offset` < 0, or offset + T > max_len.
        """
        _check_embeddings(x, self.d_model)
        _check_span(offset, x.shape[1], self.max_len, type(self).__name__)
        pe = self.table[offset : offset + x.shape[1]].to(x.dtype)  # (T, D)
        return self.dropout(x + pe)


class HalvesSinusoidalEncoding(SinusoidalPositionalEncoding):
    """The same sinusoids as :class:`SinusoidalPositionalEncoding`, laid out as [sin; cos] halves.

    Column i < ceil(D/2) holds sin(pos / 10000^(2i/D)) and column ceil(D/2) + i holds cos(pos /
    10000^(2i/D)): the table of Hugging Face's ``MarianSinusoidalPositionalEmbedding`` (and of
    Marian NMT, fairseq, tensor2tensor), which pretrained Marian weights were trained with. It is
    the paper's table [Vaswani17] Sec. 3.5 with its columns permuted.

    Args and Raises: as :class:`SinusoidalPositionalEncoding`.
    """

    def __init__(self, d_model: int, *, max_len: int = 4096, dropout: float = 0.0) -> None:
        super().__init__(d_model, max_len=max_len, dropout=dropout)
        table = self.table  # interleaved: sin in the even columns, cos in the odd ones
        self.table = torch.cat([table[:, 0::2], table[:, 1::2]], dim=1)  # (max_len, D): [sin; cos]


class LearnedPositionalEncoding(PositionalModule):
    """A trained vector per absolute position added to the embeddings [Gehring17] Sec. 3.1.

    As in BERT [Devlin19], the table ``weight`` (max_len, D) is initialised from N(0, 0.02^2).

    Args:
        d_model: embedding width, D.
        max_len: number of positions learned; positions must be < max_len. Positions never seen
            in training keep their random initial vectors.
        dropout: probability in [0, 1] of zeroing an element of the sum.

    Raises:
        ValueError: if `d_model` or `max_len` is not positive.

    Differences from the paper:
        [Gehring17] initialises embeddings from N(0, 0.1^2); we use BERT's N(0, 0.02^2).
    """

    kind: ClassVar[PositionKind] = PositionKind.EMBEDDINGS

    def __init__(self, d_model: int, *, max_len: int = 1024, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ValueError(f"d_model and max_len must be positive, got {d_model} and {max_len}")
        self.d_model, self.max_len = d_model, max_len
        self.weight = nn.Parameter(torch.empty(max_len, d_model))  # p_1 .. p_m of [Gehring17]
        nn.init.normal_(self.weight, std=0.02)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Add the learned vectors of positions offset .. offset + T - 1, then dropout.

        Args:
            x: token embeddings, (B, T, D).
            offset: position of ``x[:, 0]``.

        Returns:
            x + weight[offset : offset + T], (B, T, D).

        Raises:
            ValueError: if `x` is not (B, T, D), `offset` < 0, or offset + T > max_len.
        """
        _check_embeddings(x, self.d_model)
        _check_span(offset, x.shape[1], self.max_len, type(self).__name__)
        return self.dropout(x + self.weight[offset : offset + x.shape[1]])


class RotaryEmbedding(PositionalModule):
    """Rotary position embedding (RoPE) of queries and keys [Su21] Sec. 3.4.2, Eqs. 15, 34.

    The features of a head form Dh/2 pairs (x_{2i}, x_{2i+1}); pair i at position m is rotated
    by the angle m * theta_i with theta_i = base^(-2i/Dh), i = 0 .. Dh/2 - 1 (Eq. 15). Since
    rotations compose, <R_m q, R_n k> = <q, R_{n-m} k> depends only on n - m (Eq. 16).

    Layout: *interleaved* pairs of adjacent features, exactly as in Eq. 34. The "rotate half"
    layout (GPT-NeoX, Hugging Face Llama) pairs feature i with feature i + Dh/2 instead; it is
    the same mechanism up to a fixed permutation of the Dh features, which learned projections
    absorb, but weights trained with one layout need that permutation to run with the other.

    Our `base` is the paper's 10000 in theta_i = 10000^(-2(i-1)/d); `head_dim` is its d.

    Args:
        head_dim: width of one head, Dh; must be even.
        base: wavelength base (dimensionless); larger values rotate more slowly.
        max_len: number of positions in the cos/sin tables; positions must be < max_len.

    Raises:
        ValueError: if `head_dim` is not a positive even number or `max_len` is not positive.
    """

    kind: ClassVar[PositionKind] = PositionKind.ROTARY
    cos: Tensor  # buffer, (max_len, Dh/2)
    sin: Tensor  # buffer, (max_len, Dh/2)

    def __init__(self, head_dim: int, *, base: float = 10000.0, max_len: int = 4096) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(
                f"RoPE rotates pairs of features, so head_dim must be positive and even, "
                f"got {head_dim}; choose d_model and n_heads so that d_model / n_heads is even"
            )
        if max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        self.head_dim, self.base, self.max_len = head_dim, base, max_len
        theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # Eq. 15
        angle = torch.outer(torch.arange(max_len, dtype=torch.float64), theta)  # (max_len, Dh/2)
        self.register_buffer("cos", torch.cos(angle), persistent=False)
        self.register_buffer("sin", torch.sin(angle), persistent=False)

    def rotate(self, x: Tensor, offset: int = 0) -> Tensor:
        """Rotate each pair of features of `x` by its position's angle (Eq. 34).

        Apply it to the projected queries and to the keys (before they enter a KV cache), each
        with the position of its own first item; never to the values.

        Args:
            x: queries or keys, (B, Nh, T, Dh) or any (..., T, Dh).
            offset: position of ``x[..., 0, :]``; item t is at position offset + t.

        Returns:
            Rotated copy of `x`, same shape and dtype.

        Raises:
            ValueError: if the last dim of `x` is not Dh, `offset` < 0, or offset + T > max_len.
        """
        if x.dim() < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"expected (B, Nh, T, Dh) with Dh = head_dim = {self.head_dim}, got {tuple(x.shape)}")
        t = x.shape[-2]
        _check_span(offset, t, self.max_len, type(self).__name__)
        cos = self.cos[offset : offset + t].to(x.dtype)  # (T, Dh/2)
        sin = self.sin[offset : offset + t].to(x.dtype)
        pairs = x.unflatten(-1, (self.head_dim // 2, 2))  # (..., T, Dh/2, 2)
        even, odd = pairs[..., 0], pairs[..., 1]  # x_{2i}, x_{2i+1}: (..., T, Dh/2)
        rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)  # Eq. 34
        return rotated.flatten(-2)  # (..., T, Dh)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Same as :meth:`rotate`. The Transformer leaves embeddings alone for RoPE."""
        return self.rotate(x, offset)


def alibi_slopes(n_heads: int) -> list[float]:
    """Head slopes m_h of [Press21] Sec. 3, with the paper's recipe for any number of heads.

    For Nh a power of two: the geometric sequence 2^(-8/Nh), 2^(-16/Nh), ..., 2^(-8). Otherwise
    (the authors' reference code, github.com/ofirpress/attention_with_linear_biases,
    ``get_slopes``): the slopes for the largest power of two P < Nh, followed by the first
    Nh - P of every other slope for 2P.
    """
    if n_heads & (n_heads - 1) == 0:
        return [2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)]
    p = 2 ** math.floor(math.log2(n_heads))
    return alibi_slopes(p) + alibi_slopes(2 * p)[0::2][: n_heads - p]


class ALiBi(PositionalModule):
    """Attention with Linear Biases: score_h(i, j) += -m_h * |pos_i - pos_j| [Press21] Sec. 3.

    No positions are added to embeddings; each head h penalises a key linearly in its distance
    from the query, with slope m_h from :func:`alibi_slopes` (stored in the non-persistent
    buffer ``slopes``, (Nh,)). Add :meth:`bias` to the scores before masking and softmax; it
    does not replace a causal mask.

    Args:
        n_heads: number of heads, Nh.

    Raises:
        ValueError: if `n_heads` < 1.

    Differences from the paper:
        [Press21] defines the bias for causal language models only (keys at or before the
        query). For keys after the query (encoder self-attention, no causal mask) we use the
        symmetric -m_h * (j - i), so the penalty grows with distance in both directions.
    """

    kind: ClassVar[PositionKind] = PositionKind.SCORE_BIAS
    slopes: Tensor  # buffer, (Nh,)

    def __init__(self, n_heads: int) -> None:
        super().__init__()
        if n_heads < 1:
            raise ValueError(f"n_heads must be >= 1, got {n_heads}")
        self.n_heads = n_heads
        self.register_buffer("slopes", torch.tensor(alibi_slopes(n_heads)), persistent=False)

    def bias(
        self,
        tq: int,
        tk: int,
        *,
        offset: int | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Additive score bias for Tq queries against Tk keys.

        Key j is at position j. Query i is at position offset + i, where `offset` defaults to
        Tk - Tq: the queries are the last Tq positions of the keys, as with a KV cache (and as in
        :func:`attnkit.functional.masks.causal_mask`).

        Args:
            tq: number of queries, Tq.
            tk: number of keys, Tk.
            offset: position of the first query; default Tk - Tq.
            device: device of the result; default that of ``slopes``.
            dtype: floating dtype of the result; default that of ``slopes``.

        Returns:
            Float bias -m_h * |(offset + i) - j|, (Nh, Tq, Tk); broadcasts to scores
            (B, Nh, Tq, Tk). Zero on the query's own position.

        Raises:
            ValueError: if `offset` < 0, or `offset` is omitted and Tq > Tk.
        """
        if offset is None:
            if tq > tk:
                raise ValueError(
                    f"tq={tq} > tk={tk}: the queries cannot be the last tq of the tk positions; "
                    f"pass offset= (the position of the first query) explicitly"
                )
            offset = tk - tq
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        device = self.slopes.device if device is None else device
        dtype = self.slopes.dtype if dtype is None else dtype
        work = torch.promote_types(dtype, torch.float32)  # distances stay exact in bf16/fp16
        qpos = torch.arange(offset, offset + tq, device=device, dtype=work)  # (Tq,)
        kpos = torch.arange(tk, device=device, dtype=work)  # (Tk,)
        distance = (qpos[:, None] - kpos[None, :]).abs()  # (Tq, Tk)
        slopes = self.slopes.to(device=device, dtype=work)[:, None, None]  # (Nh, 1, 1)
        return (-slopes * distance).to(dtype)  # (Nh, Tq, Tk)   Sec. 3, Fig. 3

    def forward(
        self,
        tq: int,
        tk: int,
        *,
        offset: int | None = None,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        """Same as :meth:`bias`."""
        return self.bias(tq, tk, offset=offset, device=device, dtype=dtype)


class NoPositionalEncoding(PositionalModule):
    """No position information: returns the embeddings unchanged.

    Self-attention then treats its input as a set (the output is permutation-equivariant);
    useful as an ablation and for set-like inputs.
    """

    kind: ClassVar[PositionKind] = PositionKind.NONE

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Return `x` (B, T, D) itself; `offset` is accepted for a uniform signature."""
        return x


POSITIONAL: Registry[type[PositionalModule]] = Registry("positional encoding")
POSITIONAL.register(
    "sinusoidal", SinusoidalPositionalEncoding, "fixed sin/cos added to embeddings", "[Vaswani17] Sec. 3.5"
)
POSITIONAL.register(
    "sinusoidal-halves",
    HalvesSinusoidalEncoding,
    "fixed sinusoids as [sin; cos] halves (Marian, fairseq)",
    "[Vaswani17] Sec. 3.5",
)
POSITIONAL.register(
    "learned", LearnedPositionalEncoding, "trained absolute embeddings added to embeddings", "[Gehring17] Sec. 3.1"
)
POSITIONAL.register("rope", RotaryEmbedding, "rotate q and k by position-dependent angles", "[Su21] Eq. 34")
POSITIONAL.register("alibi", ALiBi, "per-head linear distance penalty on attention scores", "[Press21] Sec. 3")
POSITIONAL.register("none", NoPositionalEncoding, "no position information", "")


def build_positional(name: str, *, d_model: int, n_heads: int, max_len: int, dropout: float = 0.0) -> PositionalModule:
    """The positional module `name` sized for a Transformer of width D and Nh heads.

    Args:
        name: a key of :data:`POSITIONAL`.
        d_model: model width, D.
        n_heads: number of heads, Nh (RoPE rotates heads of width D / Nh; ALiBi has Nh slopes).
        max_len: longest position + 1 the model must handle (sinusoidal, learned, rope).
        dropout: dropout on embeddings + positions, for the EMBEDDINGS kinds only; the other
            kinds never see the embeddings, so the Transformer applies its own embedding dropout.

    Returns:
        A module whose ``kind`` says where it applies.

    Raises:
        ValueError: for an unknown name (listing the valid ones), or for "rope" when D is not
            divisible by Nh or D / Nh is odd.
    """
    cls = POSITIONAL.get(name)
    if cls.kind is PositionKind.EMBEDDINGS:
        return cls(d_model, max_len=max_len, dropout=dropout)
    if cls.kind is PositionKind.ROTARY:
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        return cls(d_model // n_heads, max_len=max_len)
    if cls.kind is PositionKind.SCORE_BIAS:
        return cls(n_heads)
    return cls()
