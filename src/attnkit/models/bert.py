"""BERT-like Transformer encoders [Devlin19] (BERT, MiniLM, RoBERTa [Liu19]) built from attnkit's
own :class:`~attnkit.models.transformer.EncoderLayer` (post-LN, LayerNorm ``eps``, GELU) on
:class:`~attnkit.nn.multihead.MultiHeadAttention`, with learned absolute positions, token type
embeddings and an embedding LayerNorm; optionally BERT's pooler and a masked-LM or a sequence
classification head. ``attnkit import-hf`` fills it with a Hugging Face checkpoint's weights
(:mod:`attnkit.pretrained.bert`).

Per-layer access (for explanations that need each layer's input, e.g. ALTI or the norm-based
analysis): :meth:`BertEncoder.embed` gives the embedding output (the first layer's input) and
:attr:`BertEncoder.layers` the :class:`EncoderLayer` modules, applied in order as
``x, weights = layer(x, mask, None, True)``.

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
    [Liu19] Y. Liu et al. RoBERTa: A Robustly Optimized BERT Pretraining Approach. 2019.
    arXiv:1907.11692.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transformer import _ACTIVATIONS, EncoderLayer

__all__ = ["BertEncoder", "EncoderOutput", "HEADS"]

#: the heads a :class:`BertEncoder` may carry on top of its last layer
HEADS = ("none", "mlm", "classification")


class EncoderOutput(NamedTuple):
    """What :meth:`BertEncoder.forward` returns."""

    hidden: Tensor  # last hidden states, (B, T, D)
    pooled: Tensor | None  # pooler output tanh(W h_[CLS] + b), (B, D); None without a pooler
    logits: Tensor | None  # masked-LM (B, T, V) or classification (B, n_labels); None without a head
    weights: list[Tensor]  # per layer (B, Nh, T, T); empty unless need_weights


class BertEncoder(nn.Module):
    """A BERT-like encoder [Devlin19] Sec. 3 (Fig. 2 for the input embeddings).

    embeddings = LayerNorm(E_token[id] + E_position[t + position_offset] + E_type[type]);
    then `layers` post-LN encoder blocks x = LN(x + MHA(x)); x = LN(x + FFN(x)).

    Args:
        vocab_size: V.
        d_model: hidden size D.
        n_heads: Nh (head width D / Nh).
        layers: number of encoder blocks.
        d_ff: inner width of the feed-forward sublayers (``intermediate_size``).
        max_positions: rows of the position table (``max_position_embeddings``).
        type_vocab_size: rows of the token type table (2 for BERT, 1 for RoBERTa).
        eps: LayerNorm epsilon (1e-12 for BERT, 1e-5 for RoBERTa).
        activation: the feed-forward activation (``gelu``, ``gelu_tanh``, ``relu``, ``silu``).
        pad_id: the padding token id.
        position_offset: position index of the first token: 0 for BERT, ``pad_id + 1`` for
            RoBERTa (whose table reserves rows 0..pad_id); inputs take at most
            ``max_positions - position_offset`` tokens.
        pooler: BERT's pooler, tanh(W h_[CLS] + b) (needed by the classification head).
        head: ``"none"``; ``"mlm"`` (masked LM: dense, activation, LayerNorm, then the token
            embeddings transposed plus a bias); ``"classification"`` (a linear layer on the
            pooled output).
        n_labels: classes of the classification head.
        head_activation: the masked-LM head's activation (BERT: the model's; RoBERTa: gelu).

    Raises:
        ValueError: for an unknown head or activation, a classification head without a pooler
            or labels, or sizes that do not fit.

    Differences from the Hugging Face implementation:
        positions are ``t + position_offset`` for every token, padding included (RoBERTa gives
        padding tokens the padding position; their outputs are not meaningful in either);
        no dropout (inference and export only); the masked-LM decoder is always tied to the
        token embeddings.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        n_heads: int,
        layers: int,
        d_ff: int,
        *,
        max_positions: int = 512,
        type_vocab_size: int = 2,
        eps: float = 1e-12,
        activation: str = "gelu",
        pad_id: int = 0,
        position_offset: int = 0,
        pooler: bool = True,
        head: str = "none",
        n_labels: int = 0,
        head_activation: str = "gelu",
    ) -> None:
        super().__init__()
        if head not in HEADS or activation not in _ACTIVATIONS or head_activation not in _ACTIVATIONS:
            raise ValueError(f"head must be one of {', '.join(HEADS)} and activations one of {', '.join(_ACTIVATIONS)}")
        if head == "classification" and (not pooler or n_labels < 1):
            raise ValueError("a classification head needs pooler=True and n_labels >= 1")
        if not 0 <= position_offset < max_positions:
            raise ValueError(f"position_offset={position_offset} must lie in [0, max_positions={max_positions})")
        self.d_model, self.n_heads, self.pad_id, self.position_offset = d_model, n_heads, pad_id, position_offset
        self.max_positions, self.head = max_positions, head
        self.tokens = nn.Embedding(vocab_size, d_model)
        self.positions = nn.Embedding(max_positions, d_model)
        self.token_types = nn.Embedding(type_vocab_size, d_model)
        self.embed_norm = nn.LayerNorm(d_model, eps=eps)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, 0.0, False, None, None, activation, eps=eps) for _ in range(layers)
        )
        self.pooler = nn.Linear(d_model, d_model) if pooler else None
        self.mlm_dense = self.mlm_norm = self.mlm_bias = self.classifier = None
        if head == "mlm":
            self.mlm_dense = nn.Linear(d_model, d_model)
            self.mlm_act = _ACTIVATIONS[head_activation]()
            self.mlm_norm = nn.LayerNorm(d_model, eps=eps)
            self.mlm_bias = nn.Parameter(torch.zeros(vocab_size))
        elif head == "classification":
            self.classifier = nn.Linear(d_model, n_labels)

    @property
    def max_tokens(self) -> int:
        """The longest input in tokens (special tokens included)."""
        return self.max_positions - self.position_offset

    def embed(self, ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """The embedding output, the first encoder layer's input, (B, T, D).

        Args:
            ids: token ids, (B, T).
            token_type_ids: segment ids, (B, T); default all 0.

        Raises:
            ValueError: if T exceeds :attr:`max_tokens`.
        """
        t = ids.shape[1]
        if t > self.max_tokens:
            raise ValueError(f"{t} tokens exceed the model's {self.max_tokens} positions")
        positions = torch.arange(t, device=ids.device) + self.position_offset  # (T,)
        types = torch.zeros_like(ids) if token_type_ids is None else token_type_ids
        x = self.tokens(ids) + self.positions(positions) + self.token_types(types)  # (B, T, D)
        return self.embed_norm(x)

    def forward(
        self,
        ids: Tensor,
        mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        *,
        need_weights: bool = False,
    ) -> EncoderOutput:
        """Encode token ids.

        Args:
            ids: token ids, (B, T).
            mask: (B, T) bool, True = a real token (may be attended to); default all True.
            token_type_ids: segment ids, (B, T); default all 0.
            need_weights: also return every layer's attention weights.

        Returns:
            :class:`EncoderOutput`.
        """
        if mask is None:
            mask = torch.ones_like(ids, dtype=torch.bool)
        x, weights = self.embed(ids, token_type_ids), []
        layer_mask = None if bool(mask.all()) else mask  # no padding: the plain softmax, no masked fill
        for layer in self.layers:
            x, w = layer(x, layer_mask, None, need_weights)  # (B, T, D), (B, Nh, T, T)
            if need_weights:
                weights.append(w)
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None  # (B, D)
        return EncoderOutput(x, pooled, self._head(x, pooled), weights)

    def _head(self, x: Tensor, pooled: Tensor | None) -> Tensor | None:
        if self.mlm_dense is not None and self.mlm_norm is not None:
            h = self.mlm_norm(self.mlm_act(self.mlm_dense(x)))  # (B, T, D)
            return F.linear(h, self.tokens.weight, self.mlm_bias)  # (B, T, V), tied decoder
        if self.classifier is not None and pooled is not None:
            return self.classifier(pooled)  # (B, n_labels)
        return None

    def attention_maps(
        self, ids: Tensor, mask: Tensor | None = None, token_type_ids: Tensor | None = None
    ) -> list[Tensor]:
        """Every layer's self-attention weights, per layer (B, Nh, T, T), rows summing to 1."""
        return self.forward(ids, mask, token_type_ids, need_weights=True).weights
