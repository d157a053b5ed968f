"""GPT-2 [Radford19]: a decoder-only language model built from attnkit's own causal
:class:`~attnkit.models.transformer.EncoderLayer` (pre-LN, GELU's tanh approximation) on
:class:`~attnkit.nn.multihead.MultiHeadAttention`, with learned absolute positions, a final
LayerNorm and an output layer tied to the token embeddings. ``attnkit import-hf`` fills it with a
Hugging Face checkpoint's weights (:mod:`attnkit.pretrained.gpt2`).

Per-layer access (for explanations): :meth:`GPT2LM.embed` gives the embedding output (the first
layer's input), :attr:`GPT2LM.layers` the causal :class:`EncoderLayer` modules, applied in order
as ``x, weights = layer(x, mask, None, True)``, and :attr:`GPT2LM.final_norm` the last LayerNorm.

References:
    [Radford19] A. Radford, J. Wu, R. Child, D. Luan, D. Amodei, I. Sutskever. Language Models
    are Unsupervised Multitask Learners. OpenAI technical report, 2019.
    [Press17] O. Press, L. Wolf. Using the Output Embedding to Improve Language Models. EACL
    2017. arXiv:1608.05859.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transformer import _ACTIVATIONS, EncoderLayer

__all__ = ["GPT2LM", "LMOutput"]


class LMOutput(NamedTuple):
    """What :meth:`GPT2LM.forward` returns."""

    hidden: Tensor  # last hidden states after the final LayerNorm, (B, T, D)
    logits: Tensor  # next-token scores, (B, T, V)
    weights: list[Tensor]  # per layer (B, Nh, T, T), zero above the diagonal; empty unless need_weights


class GPT2LM(nn.Module):
    """GPT-2 [Radford19] Sec. 2.3: GPT's decoder-only Transformer with LayerNorm moved to the input
    of each sub-block (pre-LN), a LayerNorm after the last block, and causal self-attention.

    Args:
        vocab_size: V.
        d_model: width D (``n_embd``).
        n_heads: Nh.
        layers: number of blocks (``n_layer``).
        d_ff: inner width of the feed-forward sublayers (``n_inner``, default 4 D).
        max_positions: rows of the position table, the longest context (``n_positions``).
        eps: LayerNorm epsilon (``layer_norm_epsilon``).
        activation: feed-forward activation (``gelu_tanh`` is GPT-2's ``gelu_new``).

    Raises:
        ValueError: for an unknown activation.

    Differences from the Hugging Face implementation:
        no dropout (inference and export only); no KV cache: a greedy continuation re-runs the
        whole prefix at each step (the sequences shown are at most ``max_positions`` long).
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        n_heads: int,
        layers: int,
        d_ff: int,
        *,
        max_positions: int = 1024,
        eps: float = 1e-5,
        activation: str = "gelu_tanh",
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(_ACTIVATIONS)}, got {activation!r}")
        self.d_model, self.n_heads, self.max_positions = d_model, n_heads, max_positions
        self.tokens = nn.Embedding(vocab_size, d_model)
        self.positions = nn.Embedding(max_positions, d_model)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, 0.0, True, None, None, activation, eps=eps, causal=True)
            for _ in range(layers)
        )
        self.final_norm = nn.LayerNorm(d_model, eps=eps)

    def embed(self, ids: Tensor) -> Tensor:
        """The embedding output E_token[id] + E_position[t], the first layer's input, (B, T, D).

        Raises:
            ValueError: if T exceeds ``max_positions``.
        """
        t = ids.shape[1]
        if t > self.max_positions:
            raise ValueError(f"{t} tokens exceed the model's {self.max_positions} positions")
        return self.tokens(ids) + self.positions(torch.arange(t, device=ids.device))  # (B, T, D)

    def forward(self, ids: Tensor, mask: Tensor | None = None, *, need_weights: bool = False) -> LMOutput:
        """Next-token logits of every prefix.

        Args:
            ids: token ids, (B, T).
            mask: (B, T) bool, True = a real token; default all True (ANDed with the causal mask).
            need_weights: also return every layer's attention weights.
        """
        if mask is None:
            mask = torch.ones_like(ids, dtype=torch.bool)
        x, weights = self.embed(ids), []
        layer_mask = None if bool(mask.all()) else mask  # no padding: the plain softmax, no masked fill
        for layer in self.layers:
            x, w = layer(x, layer_mask, None, need_weights)  # (B, T, D), (B, Nh, T, T)
            if need_weights:
                weights.append(w)
        x = self.final_norm(x)
        return LMOutput(x, F.linear(x, self.tokens.weight), weights)  # tied output layer [Press17]

    def attention_maps(self, ids: Tensor, mask: Tensor | None = None) -> list[Tensor]:
        """Every layer's causal self-attention weights, per layer (B, Nh, T, T)."""
        return self.forward(ids, mask, need_weights=True).weights

    @torch.no_grad()
    def greedy(self, ids: Tensor, max_new_tokens: int, eos_id: int | None) -> Tensor:
        """Continue `ids` (1, T) greedily by up to `max_new_tokens` tokens, stopping after
        `eos_id` or at ``max_positions``; returns the prompt and the new tokens, (1, T')."""
        for _ in range(max_new_tokens):
            if ids.shape[1] >= self.max_positions:
                break
            next_id = self.forward(ids).logits[:, -1].argmax(-1, keepdim=True)  # (1, 1)
            ids = torch.cat([ids, next_id], dim=1)
            if eos_id is not None and int(next_id) == eos_id:
                break
        return ids
