"""Transformer encoder-decoder [Vaswani17], with pre-LN or post-LN blocks, any positional
encoding from :data:`attnkit.nn.positional.POSITIONAL`, grouped-query heads, tied embeddings and
KV-cached incremental decoding behind the same ``encode`` / ``init_state`` / ``step`` interface as
the RNN models, so the trainer, greedy decoding and the CLI use it unchanged.

References:
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Xiong20] R. Xiong et al. On Layer Normalization in the Transformer Architecture. ICML 2020.
    arXiv:2002.04745.
    [Press17] O. Press, L. Wolf. Using the Output Embedding to Improve Language Models. EACL
    2017. arXiv:1608.05859.
    [Dosovitskiy21] A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale. ICLR 2021. arXiv:2010.11929.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional import attend, padding_mask
from ..functional.efficient import ATTENTION_KERNELS
from ..nn.dropout import Dropout
from ..nn.multihead import KVCache, MultiHeadAttention
from ..nn.positional import ALiBi, PositionKind, build_positional
from .decoder_cache import TransformerState
from .rnn.model import Seq2SeqOutput

__all__ = ["TransformerSeq2Seq", "TransformerMemory", "TransformerState", "AttentionMaps", "EncoderLayer"]


class TransformerMemory(NamedTuple):
    annotations: Tensor  # encoder output, (B, Tk, D)
    mask: Tensor  # (B, Tk) bool, True = real token
    cross: tuple[KVCache, ...]  # per decoder layer: projected encoder keys/values, computed once
    beams: int = 1  # decoder rows per memory row: consecutive groups of `beams` rows share one


class AttentionMaps(NamedTuple):
    """Per-layer, per-head weights of one teacher-forced pass."""

    encoder_self: list[Tensor]  # per layer (B, Nh, Tk, Tk)
    decoder_self: list[Tensor]  # per layer (B, Nh, Tq, Tq)
    cross: list[Tensor]  # per layer (B, Nh, Tq, Tk)


# "gelu_tanh": GELU's tanh approximation (GPT-2's "gelu_new"); "silu": x sigmoid(x) (Marian's "swish")
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "silu": nn.SiLU,
}
ACTIVATIONS = tuple(_ACTIVATIONS)  # the feed-forward activations by name


class _FeedForward(nn.Sequential):
    """Position-wise FFN(x) = W_2 act(W_1 x + b_1) + b_2: ReLU in [Vaswani17] Eq. 2, GELU in
    the Vision Transformer [Dosovitskiy21] Eq. 3."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str = "relu") -> None:
        super().__init__(
            nn.Linear(d_model, d_ff), _ACTIVATIONS[activation](), Dropout(dropout), nn.Linear(d_ff, d_model)
        )


class _Sublayer(nn.Module):
    """Residual + LayerNorm around a sublayer: pre-LN x + f(LN(x)) or post-LN LN(x + f(x))
    [Xiong20] Fig. 1."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, fn) -> tuple[Tensor, object]:
        out, extra = fn(self.norm(x) if self.norm_first else x)
        y = x + self.dropout(out)
        return (y if self.norm_first else self.norm(y)), extra


# id(Linear) -> (its weight, the weight's version, weight^T), or id(attention) -> (its q/k/v weights and
# biases, their versions, the joined weight^T, the joined bias)
_Transposed = dict[int, tuple[Any, ...]]


def _linear(module: nn.Module, x: Tensor, transposed: _Transposed) -> Tensor:
    """`module`(x) for rows x (R, Din): an ``nn.Linear`` as one ``addmm`` with its weight
    transposed to a contiguous (Din, Dout) copy, kept in `transposed` while the weight is the
    same tensor at the same version (MKL's small-batch GEMM is faster on that layout than on
    the (Dout, Din) weight; the copy is made at run time, not stored in the checkpoint). With
    gradients wanted, ``F.linear``; any other module (an int8 dynamically quantised Linear) is
    called."""
    if type(module) is not nn.Linear:
        return module(x)
    weight, bias = module.weight, module.bias
    if weight.requires_grad and torch.is_grad_enabled():
        return F.linear(x, weight, bias)
    kept = transposed.get(id(module))
    if kept is None or kept[0] is not weight or kept[1] != weight._version:
        kept = (weight, weight._version, weight.detach().t().contiguous())
        transposed[id(module)] = kept
    return x @ kept[2] if bias is None else torch.addmm(bias, x, kept[2])


def _qkv(attn: MultiHeadAttention, x: Tensor, transposed: _Transposed) -> Tensor:
    """Queries, keys and values of rows x (R, D) side by side, (R, D + 2 Nkv Dh), with one
    matmul: ``in_proj`` when the layer is packed, else a (D, D + 2 Nkv Dh) weight joined from
    ``q_proj``, ``k_proj`` and ``v_proj`` at run time and kept in `transposed` (under the
    layer's id) while those weights are the same tensors at the same versions."""
    if attn.in_proj is not None:
        return _linear(attn.in_proj, x, transposed)
    projs = attn._separate_projs()
    weights = [p.weight for p in projs]
    if (
        any(type(p) is not nn.Linear or p.bias is None for p in projs)
        or any(w.requires_grad for w in weights)
        and torch.is_grad_enabled()
    ):
        return torch.cat([_linear(p, x, transposed) for p in projs], dim=-1)
    kept = transposed.get(id(attn))
    params = (*weights, *(cast(Tensor, p.bias) for p in projs))
    versions = tuple(w._version for w in params)
    if kept is None or any(a is not b for a, b in zip(kept[0], params)) or kept[1] != versions:
        joined = torch.cat([w.detach() for w in weights]).t().contiguous()  # (D, D + 2 Nkv Dh)
        kept = (params, versions, joined, torch.cat([cast(Tensor, p.bias).detach() for p in projs]))
        transposed[id(attn)] = kept
    return torch.addmm(kept[3], x, kept[2])


def _norm_in(sub: _Sublayer, x: Tensor) -> Tensor:
    """The input of a sublayer in evaluation mode: LN(x) in a pre-LN block, x in a post-LN one."""
    if not sub.norm_first:
        return x
    norm = sub.norm
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _residual(sub: _Sublayer, x: Tensor, out: Tensor) -> Tensor:
    """A sublayer's output in evaluation mode (no dropout): x + out (pre-LN) or LN(x + out) (post-LN)."""
    y = x + out
    if sub.norm_first:
        return y
    norm = sub.norm
    return F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


class EncoderLayer(nn.Module):
    """One encoder block: self-attention, then the feed-forward sublayer, each inside a residual
    with LayerNorm (pre- or post-LN). The text Transformer and the Vision Transformer share it.

    forward(x (B, T, D), mask (B, T) bool or None, bias or None, need_weights) returns
    (x (B, T, D), weights (B, Nh, T, T) or None).

    Options the pretrained architectures need: ``activation`` (``relu``, ``gelu``, ``gelu_tanh``,
    ``silu``), the LayerNorms' ``eps`` (BERT 1e-12), ``causal`` self-attention (a decoder-only
    language model such as GPT-2). ``kernel`` / ``kernel_options`` choose the self-attention's
    kernel (:class:`~attnkit.nn.multihead.MultiHeadAttention`); `dropout` drops attention weights
    only for kernels that have them (``kernel.dropout``), and always on the residuals and the
    feed-forward sublayer.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        norm_first: bool,
        num_kv_heads: int | None,
        rotary,
        activation: str = "relu",
        *,
        eps: float = 1e-5,
        causal: bool = False,
        kernel: str = "dense",
        kernel_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        attn_dropout = dropout if ATTENTION_KERNELS.get(kernel).dropout else 0.0
        self.self_attn = MultiHeadAttention(
            d_model,
            n_heads,
            num_kv_heads=num_kv_heads,
            dropout=attn_dropout,
            rotary=rotary,
            causal=causal,
            kernel=kernel,
            kernel_options=kernel_options,
        )
        self.ff = _FeedForward(d_model, d_ff, dropout, activation)
        self.sub1, self.sub2 = (_Sublayer(d_model, dropout, norm_first, eps) for _ in range(2))

    def forward(self, x: Tensor, mask: Tensor, bias: Tensor | None, need_weights: bool):
        x, weights = self.sub1(x, lambda h: self.self_attn(h, mask=mask, bias=bias, need_weights=need_weights)[:2])
        x, _ = self.sub2(x, lambda h: (self.ff(h), None))
        return x, weights


class _DecoderLayer(nn.Module):
    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        norm_first: bool,
        num_kv_heads: int | None,
        rotary,
        activation: str = "relu",
        *,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(
            d_model, n_heads, num_kv_heads=num_kv_heads, dropout=dropout, causal=True, rotary=rotary
        )
        self.cross_attn = MultiHeadAttention(d_model, n_heads, num_kv_heads=num_kv_heads, dropout=dropout, packed=False)
        self.ff = _FeedForward(d_model, d_ff, dropout, activation)
        self.sub1, self.sub2, self.sub3 = (_Sublayer(d_model, dropout, norm_first, eps) for _ in range(3))

    def forward(
        self,
        x,
        memory_mask,
        memory,
        state,
        index,
        self_bias,
        need_self_weights,
        need_cross_weights,
        beams=1,
        self_mask=None,
    ):
        def self_attn(h):
            if state is None:  # teacher forcing: all positions at once, causal
                out = self.self_attn(h, bias=self_bias, need_weights=need_self_weights)
                return out.output, out.weights
            q, new = self.self_attn.project_self(h, state.position)  # (R, Nh, Tq, Dh), (R, Nkv, Tq, Dh)
            kv = state.write(index, new)
            k, (rows, tq, d) = state.beams, h.shape
            bias = self_bias
            if self_mask is not None:  # a sentence's k rows: k queries over its k (T + 1) slots, s k + i at position s
                q = q.view(rows // k, k, *q.shape[1:]).squeeze(3).transpose(1, 2)  # (S, Nh, k, Dh)
                if bias is not None:
                    bias = bias[..., torch.arange(kv.keys.shape[2], device=h.device) // k]
            out, weights = self.self_attn.attend_projected(
                q, kv, mask=self_mask, bias=bias, causal=self_mask is None, need_weights=need_self_weights
            )
            return out.reshape(rows, tq, d), weights

        def cross_attn(h):  # with beams > 1, the k rows of a sentence are k queries of its memory row
            rows, tq, d = h.shape
            out, weights, _ = self.cross_attn(
                h.reshape(rows // beams, beams * tq, d),
                mask=memory_mask,
                memory=memory,
                need_weights=need_cross_weights,
            )
            if weights is not None and beams > 1:  # (B, Nh, k Tq, Tk) -> (B k, Nh, Tq, Tk)
                weights = weights.unflatten(2, (beams, tq)).transpose(1, 2).flatten(0, 1)
            return out.reshape(rows, tq, d), weights

        x, self_weights = self.sub1(x, self_attn)
        x, cross_weights = self.sub2(x, cross_attn)
        x, _ = self.sub3(x, lambda h: (self.ff(h), None))
        return x, self_weights, cross_weights


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer [Vaswani17] Sec. 3.

    Args:
        src_vocab_size: source vocabulary size.
        tgt_vocab_size: target vocabulary size V.
        d_model: model width D.
        n_heads: attention heads Nh (head width Dh = D / Nh).
        num_kv_heads: key/value heads for grouped-query attention (default: Nh).
        enc_layers: encoder layers.
        dec_layers: decoder layers.
        d_ff: inner width of the feed-forward sublayers.
        dropout: dropout on sublayer outputs, attention weights and embeddings.
        norm_first: pre-LN (True, [Xiong20]) or post-LN as in the paper (False).
        positional: a name in :data:`POSITIONAL`: sinusoidal, learned, rope, alibi, none.
        tie_embeddings: share the target embedding and the output projection [Press17].
        max_len: longest source or target sequence (for position tables).
        pad_id: padding index.
        activation: the feed-forward sublayers' activation in encoder and decoder: ``relu``
            (the paper), ``gelu``, ``gelu_tanh`` or ``silu`` (Marian's "swish").
        scale_embeddings: multiply token embeddings by sqrt(D) (Sec. 3.4; Marian's
            ``scale_embedding``); False adds the positions to the embeddings as they are.
        share_embeddings: one embedding table for source and target (a joint vocabulary,
            Marian's ``share_encoder_decoder_embeddings``); needs equal vocabulary sizes. Its
            ``state_dict`` still holds both ``src_embedding.weight`` and ``tgt_embedding.weight``.
        suppress_pad: in :meth:`step` (greedy and beam search), set the log-probability of
            `pad_id` to -inf after the softmax, as Hugging Face's generation does for Marian
            (``bad_words_ids=[[pad]]``: the pad token keeps its share of the normaliser and is
            never chosen). Teacher forcing (:meth:`forward`) is unchanged.
        attention_kernel: the encoder self-attention's kernel, a name of
            :data:`attnkit.functional.efficient.ATTENTION_KERNELS` (``dense`` by default); the
            decoder's self- and cross-attention stay dense (cached, beam-shared decoding).
        kernel_options: that kernel's options (``{"window": 64}``).

    Raises:
        ValueError: for an unknown positional encoding or activation, D not divisible by Nh, or
            shared embeddings with different vocabulary sizes.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        d_model: int = 128,
        n_heads: int = 4,
        num_kv_heads: int | None = None,
        enc_layers: int = 3,
        dec_layers: int = 3,
        d_ff: int = 512,
        dropout: float = 0.1,
        norm_first: bool = True,
        positional: str = "sinusoidal",
        tie_embeddings: bool = False,
        max_len: int = 512,
        pad_id: int = 0,
        activation: str = "relu",
        scale_embeddings: bool = True,
        share_embeddings: bool = False,
        suppress_pad: bool = False,
        attention_kernel: str = "dense",
        kernel_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of: {', '.join(_ACTIVATIONS)}")
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ValueError(f"share_embeddings needs one vocabulary, got sizes {src_vocab_size} and {tgt_vocab_size}")
        self.d_model, self.n_heads = d_model, n_heads
        self.embed_scale = math.sqrt(d_model) if scale_embeddings else 1.0  # Sec. 3.4
        self.pad_id, self.suppress_pad = pad_id, suppress_pad
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embedding = (
            self.src_embedding if share_embeddings else nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        )
        tables = (self.src_embedding,) if share_embeddings else (self.src_embedding, self.tgt_embedding)
        for emb in tables:  # N(0, 1/D): times sqrt(D) gives unit scale
            nn.init.normal_(emb.weight, std=d_model**-0.5)
            nn.init.zeros_(emb.weight[pad_id])
        pos = build_positional(positional, d_model=d_model, n_heads=n_heads, max_len=max_len, dropout=dropout)
        rotary = pos if pos.kind is PositionKind.ROTARY else None  # rotates q and k in every layer
        # biases every layer's scores; the SCORE_BIAS kind promises bias(Tq, Tk), as ALiBi has it
        self.alibi = cast(ALiBi, pos) if pos.kind is PositionKind.SCORE_BIAS else None
        self.positions = pos if pos.kind is PositionKind.EMBEDDINGS else None  # added to embeddings
        self.embed_dropout = Dropout(dropout)
        layer_args = (d_model, n_heads, d_ff, dropout, norm_first, num_kv_heads, rotary, activation)
        self.encoder = nn.ModuleList(
            EncoderLayer(*layer_args, kernel=attention_kernel, kernel_options=kernel_options) for _ in range(enc_layers)
        )
        self.decoder = nn.ModuleList(_DecoderLayer(*layer_args) for _ in range(dec_layers))
        self.enc_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        if tie_embeddings:
            self.generator.weight = self.tgt_embedding.weight
        self.uses_attention = True
        # the evaluation-mode step's transposed Linear weights, made at run time (see _linear); not a buffer
        self._transposed: _Transposed = {}

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int) -> Tensor:
        x = embedding(tokens) * self.embed_scale  # Sec. 3.4
        return self.positions(x, offset) if self.positions is not None else self.embed_dropout(x)  # Sec. 5.4

    def _alibi(self, tq: int, tk: int, device: torch.device) -> Tensor | None:
        """ALiBi score bias (1, Nh, Tq, Tk) for the last Tq of Tk positions, or None."""
        return None if self.alibi is None else self.alibi.bias(tq, tk, device=device).unsqueeze(0)

    def encode(self, src: Tensor, src_lengths: Tensor, *, need_weights: bool = False) -> TransformerMemory:
        """Encode src (B, Tk) with lengths (B,) -> :class:`TransformerMemory`."""
        mask = padding_mask(src_lengths.to(src.device), src.shape[1])  # (B, Tk)
        x = self._embed(self.src_embedding, src, 0)
        bias = self._alibi(src.shape[1], src.shape[1], src.device)
        for layer in self.encoder:
            x, _ = layer(x, mask, bias, need_weights)
        x = self.enc_norm(x)
        return TransformerMemory(x, mask, self._cross_keys(x))

    def _cross_keys(self, x: Tensor) -> tuple:
        """Every decoder layer's projected keys and values of the encoder output x (B, Tk, D)."""
        return tuple(cast(_DecoderLayer, layer).cross_attn.project_memory(x) for layer in self.decoder)

    def init_state(self, memory: TransformerMemory) -> TransformerState:
        """Empty key/value buffers for B * ``memory.beams`` decoder rows, room for Tk + 8
        positions (see :class:`~attnkit.models.decoder_cache.TransformerState`)."""
        attn = cast(_DecoderLayer, self.decoder[0]).self_attn
        x = memory.annotations
        return TransformerState.empty(
            len(self.decoder), x.shape[0], memory.beams, attn.num_kv_heads, attn.head_dim, x, capacity=x.shape[1] + 8
        )

    def fold_beams(self, memory: TransformerMemory, beams: int) -> TransformerMemory:
        """The same memory serving `beams` consecutive decoder rows per sentence (beam search):
        cross-attention takes a sentence's rows as `beams` queries of one memory row, so the
        encoder output and its projected keys/values are not copied k times. A state from
        :meth:`init_state` of this memory shares each sentence's self-attention slots among its
        rows; :meth:`step` then needs `visible`, the mask that beam search keeps
        (:class:`attnkit.decoding.beam_state.BeamAncestry`)."""
        return memory._replace(beams=beams)

    def _decode(
        self,
        tokens: Tensor,
        memory: TransformerMemory,
        state: TransformerState | None,
        need_weights: bool,
        last_cross_only: bool = False,
        visible: Tensor | None = None,
        cross_layer: int | None = None,
    ):
        """Decoder layers over `tokens` (B, Tq): teacher forcing without a state, else the next
        Tq positions, each row attending to the slots `visible` (S, k, >= (T + Tq) k) marks, or
        causally when it is None. With `last_cross_only`, only the last layer's cross-attention
        weights are computed (the others take the fused kernel); with `cross_layer`, only that
        layer's."""
        tq = tokens.shape[1]
        self_mask = None
        if state is not None:
            state = state.reserve(tq)
            if visible is not None:  # (S, 1, k, (T + Tq) k): broadcast over heads
                self_mask = visible[:, None, :, : (state.position + tq) * state.beams]
        offset = 0 if state is None else state.position
        x = self._embed(self.tgt_embedding, tokens, offset)
        self_bias = self._alibi(tq, offset + tq, tokens.device)  # causality: the layer's causal=True
        memory_mask = memory.mask  # (B, Tk) padding
        self_w, cross_w = [], []
        for i, layer in enumerate(self.decoder):
            last = i == len(self.decoder) - 1
            x, sw, cw = layer(
                x,
                memory_mask,
                memory.cross[i],
                state,
                i,
                self_bias,
                need_weights and not last_cross_only,
                (need_weights and (last or not last_cross_only)) or i == cross_layer,
                memory.beams,
                self_mask,
            )
            self_w.append(sw)
            cross_w.append(cw)
        new_state = None if state is None else state.advanced(tq)
        return self.dec_norm(x), new_state, self_w, cross_w

    def step(
        self, prev_tokens: Tensor, state: TransformerState, memory: TransformerMemory, *, visible: Tensor | None = None
    ):
        """One incremental step with the KV cache.

        In evaluation mode (without ALiBi or autocast) the step runs as functional ops on the
        layers' parameters (:meth:`_fast_step`, the same numbers within float rounding). It then
        keeps a transposed copy of each decoder and generator Linear weight (one more copy of
        those weights in memory, made on the first step, renewed when a weight changes, never
        in the ``state_dict``).

        Args:
            prev_tokens: the previous output token of each row, (B,) (B * k rows in beam search).
            state: the decoder state from :meth:`init_state` or the previous step (consumed).
            memory: from :meth:`encode` (or :meth:`fold_beams`).
            visible: which self-attention slots each row may attend to, (S, k, >= (T + 1) * k)
                bool for S = B / k sentences (batch rows of the state) of k rows, T positions
                decoded so far; slot s * k + i holds position s of the row that was beam i at
                step s (True = may attend; a row must see its own new slot T * k + j). Needed
                when the state's k > 1 (from :meth:`fold_beams`); None attends causally to the
                row's own slots (k = 1). Beam search passes
                :class:`attnkit.decoding.beam_state.BeamAncestry`'s table.

        Returns:
            (log-probabilities (B, V), the next state, the last decoder layer's cross-attention
            weights per head (B, Nh, Tk), not averaged over heads).

        Raises:
            ValueError: if the state has k > 1 beams and `visible` is None, or `visible` is not
                (S, k, >= (T + 1) * k).
        """
        k = state.beams
        if visible is None and k > 1:
            raise ValueError(
                f"this state's {k} beams per sentence share their slots: pass visible, "
                f"(sentences, {k}, >= (position + 1) * {k}) bool (see attnkit.decoding.beam_state)"
            )
        if visible is not None and (
            visible.dim() != 3
            or visible.shape[1] != k
            or visible.shape[0] != prev_tokens.shape[0] // k
            or visible.shape[2] < (state.position + 1) * k
        ):
            raise ValueError(
                f"visible must be (sentences, beams, >= (position + 1) * beams) = "
                f"({prev_tokens.shape[0] // k}, {k}, >= {(state.position + 1) * k}), "
                f"got {tuple(visible.shape)}"
            )
        if self._fast_step_applies(prev_tokens):
            return self._fast_step(prev_tokens, state, memory, visible)
        x, state, _, cross_w = self._decode(
            prev_tokens[:, None], memory, state, need_weights=True, last_cross_only=True, visible=visible
        )
        logprobs = torch.log_softmax(self.generator(x[:, 0]), dim=-1)
        if self.suppress_pad:  # after the softmax, as Hugging Face's bad_words_ids for Marian
            logprobs[:, self.pad_id] = -math.inf
        return logprobs, state, cross_w[-1][:, :, 0]  # (B, Nh, 1, Tk) -> (B, Nh, Tk)

    def _fast_step_applies(self, tokens: Tensor) -> bool:
        """Whether :meth:`step` may take :meth:`_fast_step`: evaluation mode (no dropout), no ALiBi
        bias, no autocast (its casts are the modules')."""
        return not self.training and self.alibi is None and not torch.is_autocast_enabled(tokens.device.type)

    def _fast_step(
        self, prev_tokens: Tensor, state: TransformerState, memory: TransformerMemory, visible: Tensor | None
    ) -> tuple[Tensor, TransformerState, Tensor]:
        """:meth:`step` in evaluation mode, the same computation as :meth:`_decode` with one
        position, written with functional ops on the layers' own parameters: rows (R, D) instead
        of (R, 1, D), no per-layer module calls, checks or mask building, one padding mask per
        step for the cross-attention of every layer, the fused SDPA kernel wherever no weights
        are returned and the explicit path (:func:`attnkit.functional.attend`) for the last
        layer's cross-attention, whose weights are returned."""
        k = state.beams
        state = state.reserve(1)
        t = state.position
        rows = prev_tokens.shape[0]
        sentences = rows // k
        x = self._embed(self.tgt_embedding, prev_tokens[:, None], t)[:, 0]  # (R, D)
        self_mask = None if visible is None else visible[:, None, :, : (t + 1) * k]  # (S, 1, k, (T + 1) k)
        pad = memory.mask[:, None, None, :]  # (S, 1, 1, Tk)
        has_key = pad.any(dim=-1, keepdim=True)  # a source without tokens: zero context, as _fused gives
        safe_pad = pad | ~has_key
        last = len(self.decoder) - 1
        cross_w: Tensor | None = None
        wt = self._transposed
        for i, module in enumerate(self.decoder):
            layer = cast(_DecoderLayer, module)
            sa, ca = layer.self_attn, layer.cross_attn
            nh, nkv, dh, d = sa.n_heads, sa.num_kv_heads, sa.head_dim, sa.d_model
            # self-attention: one matmul for Q, K and V; the new position written into the cache
            h = _norm_in(layer.sub1, x)
            q, key, value = _qkv(sa, h, wt).split([d, sa.kv_dim, sa.kv_dim], dim=-1)
            q = q.view(rows, nh, 1, dh)  # (R, Nh, 1, Dh)
            key, value = key.view(rows, nkv, 1, dh), value.view(rows, nkv, 1, dh)
            if sa.rotary is not None:
                q, key = sa.rotary.rotate(q, t), sa.rotary.rotate(key, t)
            kv = state.write(i, KVCache(key, value))  # (S, Nkv, (T + 1) k, Dh)
            keys, values = sa._repeat_kv(kv.keys), sa._repeat_kv(kv.values)
            if self_mask is None:  # one query, the last position: it may see every slot
                ctx = F.scaled_dot_product_attention(q, keys, values)  # (R, Nh, 1, Dh)
            else:  # a sentence's k rows: k queries over its slots, each its own prefix
                q = q.view(sentences, k, nh, dh).transpose(1, 2)  # (S, Nh, k, Dh)
                ctx = F.scaled_dot_product_attention(q, keys, values, attn_mask=self_mask).transpose(1, 2)
            x = _residual(layer.sub1, x, _linear(sa.out_proj, ctx.reshape(rows, d), wt))
            # cross-attention: the k rows of a sentence are k queries of its memory row
            h = _norm_in(layer.sub2, x)
            q = _linear(ca._separate_projs()[0], h, wt).view(sentences, k, nh, dh).transpose(1, 2)  # (S, Nh, k, Dh)
            keys, values = ca._repeat_kv(memory.cross[i].keys), ca._repeat_kv(memory.cross[i].values)
            if i == last:
                ctx, weights = attend(q, keys, values, mask=pad, need_weights=True)  # weights (S, Nh, k, Tk)
                cross_w = cast(Tensor, weights).transpose(1, 2).reshape(rows, nh, -1)  # (R, Nh, Tk)
            else:
                ctx = F.scaled_dot_product_attention(q, keys, values, attn_mask=safe_pad) * has_key
            x = _residual(layer.sub2, x, _linear(ca.out_proj, ctx.transpose(1, 2).reshape(rows, d), wt))
            # feed-forward
            h = _norm_in(layer.sub3, x)
            x = _residual(layer.sub3, x, _linear(layer.ff[3], layer.ff[1](_linear(layer.ff[0], h, wt)), wt))
        logprobs = torch.log_softmax(_linear(self.generator, self.dec_norm(x), wt), dim=-1)
        if self.suppress_pad:  # after the softmax, as Hugging Face's bad_words_ids for Marian
            logprobs[:, self.pad_id] = -math.inf
        return logprobs, state.advanced(1), cast(Tensor, cross_w)

    def forward(
        self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor, *, project: bool = True, align_layer: int | None = None
    ) -> Seq2SeqOutput:
        """Teacher forcing on the fused attention path: logits (B, Tq, V); weights None. With
        ``project=False`` the logits field holds the inputs of ``generator``, (B, Tq, D). With
        ``align_layer`` (a decoder layer index, negative from the end), the weights field holds
        that layer's cross-attention per head, (B, Nh, Tq, Tk), with gradients (guided alignment
        training; the other layers keep the fused kernel).

        Raises:
            IndexError: for an `align_layer` outside the decoder's layers.
        """
        memory = self.encode(src, src_lengths)
        if align_layer is None:
            x, _, _, _ = self._decode(tgt_in, memory, None, need_weights=False)
            return Seq2SeqOutput(self.generator(x) if project else x, None)
        layer = range(len(self.decoder))[align_layer]
        x, _, _, cross = self._decode(tgt_in, memory, None, need_weights=False, cross_layer=layer)
        return Seq2SeqOutput(self.generator(x) if project else x, cross[layer])

    @torch.no_grad()
    def attention_maps(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> AttentionMaps:
        """Every layer's per-head weights for a teacher-forced pass (e.g. on a hypothesis)."""
        mask = padding_mask(src_lengths.to(src.device), src.shape[1])
        x = self._embed(self.src_embedding, src, 0)
        bias = self._alibi(src.shape[1], src.shape[1], src.device)
        enc_w = []
        for layer in self.encoder:
            x, w = layer(x, mask, bias, True)
            enc_w.append(w)
        x = self.enc_norm(x)
        memory = TransformerMemory(x, mask, self._cross_keys(x))
        _, _, self_w, cross_w = self._decode(tgt_in, memory, None, need_weights=True)
        return AttentionMaps(enc_w, self_w, cross_w)
