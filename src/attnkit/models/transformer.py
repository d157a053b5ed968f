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
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..functional import padding_mask
from ..nn.multihead import KVCache, MultiHeadAttention
from ..nn.positional import PositionKind, build_positional
from .rnn_seq2seq import Seq2SeqOutput
from .state import select_rows

__all__ = ["TransformerSeq2Seq", "TransformerMemory", "TransformerState", "AttentionMaps"]


class TransformerMemory(NamedTuple):
    annotations: Tensor  # encoder output, (B, Tk, D)
    mask: Tensor  # (B, Tk) bool, True = real token
    cross: tuple[KVCache, ...]  # per decoder layer: projected encoder keys/values, computed once


class TransformerState(NamedTuple):
    """Decoder KV caches (one per layer) and the number of tokens decoded so far."""

    caches: tuple[KVCache, ...]  # per decoder layer, (B, Nkv, T, Dh) each; T = 0 before the first step
    position: int

    def select(self, index: Tensor) -> "TransformerState":
        """Keep batch rows `index` (B',), e.g. to reorder beams."""
        return select_rows(self, index)


class AttentionMaps(NamedTuple):
    """Per-layer, per-head weights of one teacher-forced pass."""

    encoder_self: list[Tensor]  # per layer (B, Nh, Tk, Tk)
    decoder_self: list[Tensor]  # per layer (B, Nh, Tq, Tq)
    cross: list[Tensor]  # per layer (B, Nh, Tq, Tk)


class _FeedForward(nn.Sequential):
    """Position-wise FFN(x) = W_2 ReLU(W_1 x + b_1) + b_2 [Vaswani17] Eq. 2."""

    def __init__(self, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))


class _Sublayer(nn.Module):
    """Residual + LayerNorm around a sublayer: pre-LN x + f(LN(x)) or post-LN LN(x + f(x))
    [Xiong20] Fig. 1."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: Tensor, fn) -> tuple[Tensor, object]:
        out, extra = fn(self.norm(x) if self.norm_first else x)
        y = x + self.dropout(out)
        return (y if self.norm_first else self.norm(y)), extra


class _EncoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, norm_first: bool,
                 num_kv_heads: int | None, rotary) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, num_kv_heads=num_kv_heads,
                                            dropout=dropout, rotary=rotary)
        self.ff = _FeedForward(d_model, d_ff, dropout)
        self.sub1, self.sub2 = (_Sublayer(d_model, dropout, norm_first) for _ in range(2))

    def forward(self, x: Tensor, mask: Tensor, bias: Tensor | None, need_weights: bool):
        x, weights = self.sub1(x, lambda h: self.self_attn(h, mask=mask, bias=bias, need_weights=need_weights)[:2])
        x, _ = self.sub2(x, lambda h: (self.ff(h), None))
        return x, weights


class _DecoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, norm_first: bool,
                 num_kv_heads: int | None, rotary) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, n_heads, num_kv_heads=num_kv_heads,
                                            dropout=dropout, causal=True, rotary=rotary)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, num_kv_heads=num_kv_heads,
                                             dropout=dropout, packed=False)
        self.ff = _FeedForward(d_model, d_ff, dropout)
        self.sub1, self.sub2, self.sub3 = (_Sublayer(d_model, dropout, norm_first) for _ in range(3))

    def forward(self, x, memory_mask, memory, self_cache, self_bias, need_weights):
        def self_attn(h):
            out = self.self_attn(h, bias=self_bias, cache=self_cache, use_cache=self_cache is not None,
                                 need_weights=need_weights)
            return out.output, (out.weights, out.cache)

        x, (self_weights, new_cache) = self.sub1(x, self_attn)
        x, cross_weights = self.sub2(x, lambda h: self.cross_attn(
            h, mask=memory_mask, memory=memory, need_weights=need_weights)[:2])
        x, _ = self.sub3(x, lambda h: (self.ff(h), None))
        return x, self_weights, cross_weights, new_cache


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

    Raises:
        ValueError: for an unknown positional encoding, or D not divisible by Nh.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, d_model: int = 128,
                 n_heads: int = 4, num_kv_heads: int | None = None, enc_layers: int = 3,
                 dec_layers: int = 3, d_ff: int = 512, dropout: float = 0.1, norm_first: bool = True,
                 positional: str = "sinusoidal", tie_embeddings: bool = False, max_len: int = 512,
                 pad_id: int = 0) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.d_model, self.n_heads = d_model, n_heads
        self.src_embedding = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        for emb in (self.src_embedding, self.tgt_embedding):  # N(0, 1/D): times sqrt(D) gives unit scale
            nn.init.normal_(emb.weight, std=d_model**-0.5)
            nn.init.zeros_(emb.weight[pad_id])
        pos = build_positional(positional, d_model=d_model, n_heads=n_heads, max_len=max_len, dropout=dropout)
        rotary = pos if pos.kind is PositionKind.ROTARY else None  # rotates q and k in every layer
        self.alibi = pos if pos.kind is PositionKind.SCORE_BIAS else None  # biases every layer's scores
        self.positions = pos if pos.kind is PositionKind.EMBEDDINGS else None  # added to embeddings
        self.embed_dropout = nn.Dropout(dropout)
        layer_args = (d_model, n_heads, d_ff, dropout, norm_first, num_kv_heads, rotary)
        self.encoder = nn.ModuleList(_EncoderLayer(*layer_args) for _ in range(enc_layers))
        self.decoder = nn.ModuleList(_DecoderLayer(*layer_args) for _ in range(dec_layers))
        self.enc_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        if tie_embeddings:
            self.generator.weight = self.tgt_embedding.weight
        self.uses_attention = True

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int) -> Tensor:
        x = embedding(tokens) * math.sqrt(self.d_model)  # Sec. 3.4
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
        cross = tuple(layer.cross_attn.project_memory(x) for layer in self.decoder)
        return TransformerMemory(x, mask, cross)

    def init_state(self, memory: TransformerMemory) -> TransformerState:
        x = memory.annotations
        return TransformerState(tuple(_empty_cache(layer, x) for layer in self.decoder), 0)

    def _decode(self, tokens: Tensor, memory: TransformerMemory, state: TransformerState | None,
                need_weights: bool):
        offset = 0 if state is None else state.position
        x = self._embed(self.tgt_embedding, tokens, offset)
        tq = tokens.shape[1]
        self_bias = self._alibi(tq, offset + tq, tokens.device)  # causality: the layer's causal=True
        memory_mask = memory.mask  # (B, Tk) padding
        caches, self_w, cross_w = [], [], []
        for i, layer in enumerate(self.decoder):
            cache = None if state is None else state.caches[i]
            x, sw, cw, cache = layer(x, memory_mask, memory.cross[i], cache, self_bias, need_weights)
            caches.append(cache), self_w.append(sw), cross_w.append(cw)
        new_state = None if state is None else TransformerState(tuple(caches), offset + tq)
        return self.dec_norm(x), new_state, self_w, cross_w

    def step(self, prev_tokens: Tensor, state: TransformerState, memory: TransformerMemory):
        """One incremental step with the KV cache: prev_tokens (B,) -> (log-probs (B, V), state,
        cross-attention weights of the last layer averaged over heads (B, Tk))."""
        x, state, _, cross_w = self._decode(prev_tokens[:, None], memory, state, need_weights=True)
        logprobs = torch.log_softmax(self.generator(x[:, 0]), dim=-1)
        return logprobs, state, cross_w[-1].mean(dim=1)[:, 0]

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Seq2SeqOutput:
        """Teacher forcing on the fused attention path: logits (B, Tq, V); weights None."""
        memory = self.encode(src, src_lengths)
        x, _, _, _ = self._decode(tgt_in, memory, None, need_weights=False)
        return Seq2SeqOutput(self.generator(x), None)

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
        memory = TransformerMemory(x, mask, tuple(layer.cross_attn.project_memory(x) for layer in self.decoder))
        _, _, self_w, cross_w = self._decode(tgt_in, memory, None, need_weights=True)
        return AttentionMaps(enc_w, self_w, cross_w)


def _empty_cache(layer: _DecoderLayer, x: Tensor) -> KVCache:
    attn = layer.self_attn
    shape = (x.shape[0], attn.num_kv_heads, 0, attn.head_dim)
    return KVCache(x.new_zeros(shape), x.new_zeros(shape))
