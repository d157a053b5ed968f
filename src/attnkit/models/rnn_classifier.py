"""A recurrent document classifier with or without attention (model family ``rnn-classifier``).

The document's words as one flat sequence, an embedding, a (bidirectional) LSTM or GRU, then either
``pooling: last``: the final states of the two directions (the forward state after the last word,
the backward state after the first), the classic RNN classifier without attention; or ``pooling:
attention``: attention pooling over every hidden state with a learned context vector [Yang16]
Eqs. 5-7, one step from every position to the classifier. The pair measures what attention adds
to a recurrent network on the same encoder (the distance study of issue 30).

The output is the HAN's (:class:`~attnkit.models.han.HANOutput`): word weights (B, S, W) are the
pooling weights put back at each word's sentence and position (with ``last``: weight 1 on the
last word, where the forward state ends; 0 elsewhere), sentence weights their sums.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
    [Hochreiter97] S. Hochreiter, J. Schmidhuber. Long Short-Term Memory. Neural Computation 9(8), 1997.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..nn.dropout import Dropout
from ..nn.pooling import AttentionPooling
from ..schema import check_positive
from .family import FAMILIES, check_dropout
from .han import HANOutput
from .specs import DocumentSpec, ModelSpec

__all__ = ["RNNClassifier", "RNNClassifierConfig", "RNNClassifierFamily"]

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
POOLINGS = ("last", "attention")


class RNNClassifier(nn.Module):
    """Embed the flat word sequence, run a bidirectional RNN, pool (last states or attention), classify.

    Args:
        vocab_size: V; n_classes: C.
        emb_dim: word embedding width; hidden_dim: hidden width per direction.
        cell: ``"lstm"`` or ``"gru"``; layers: stacked RNN layers.
        pooling: ``"last"`` or ``"attention"``; attn_dim: the attention pooling's width.
        dropout: on the embeddings and the pooled vector; pad_id: the padding word id.
    """

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        *,
        emb_dim: int = 64,
        hidden_dim: int = 64,
        cell: str = "lstm",
        layers: int = 1,
        pooling: str = "attention",
        attn_dim: int = 64,
        dropout: float = 0.1,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id, self.pooling = pad_id, pooling
        self.embed = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.rnn = CELLS[cell](emb_dim, hidden_dim, num_layers=layers, batch_first=True, bidirectional=True)
        self.pool = AttentionPooling(2 * hidden_dim, attn_dim) if pooling == "attention" else None
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden_dim, n_classes)
        self.uses_attention = pooling == "attention"

    def forward(self, tokens: Tensor, sentence_lengths: Tensor, n_sentences: Tensor) -> HANOutput:
        """Class logits and the pooling weights on the document's words.

        Args:
            tokens: (B, S, W) word ids, padded after the real words and sentences.
            sentence_lengths: (B, S) words per sentence (0 for padding sentences).
            n_sentences: (B,) sentences per document (unused: the lengths say it).

        Returns:
            :class:`~attnkit.models.han.HANOutput`: logits (B, C), word weights (B, S, W) and
            sentence weights (B, S), each summing to 1 over the document's words.
        """
        b, s, w = tokens.shape
        real = (torch.arange(w, device=tokens.device) < sentence_lengths.unsqueeze(-1)).reshape(b, s * w)
        order = torch.argsort((~real).long(), dim=1, stable=True)  # real words first, in order
        words = tokens.reshape(b, s * w).gather(1, order)  # (B, S W)
        lengths = real.sum(-1).clamp(min=1)  # (B,)
        mask = torch.arange(s * w, device=tokens.device) < lengths.unsqueeze(-1)  # (B, S W)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(self.embed(words)), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, final = self.rnn(packed)
        hidden, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=s * w)  # (B, S W, 2H)
        if self.pool is not None:
            pooled, weights = self.pool(hidden, mask)  # (B, 2H), (B, S W)  [Yang16] Eqs. 5-7
        else:
            h_n = final[0] if isinstance(final, tuple) else final  # (layers * 2, B, H)
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=-1)  # forward after the last word, backward after the first
            weights = nn.functional.one_hot(lengths - 1, s * w).to(hidden.dtype)  # (B, S W)
        logits = self.classifier(self.dropout(pooled))  # (B, C)
        grid = weights.new_zeros(b, s * w).scatter_add(1, order, weights * mask)  # back to (B, S W) grid order
        word_weights = grid.view(b, s, w)
        return HANOutput(logits, word_weights, word_weights.sum(-1))


@dataclass(frozen=True)
class RNNClassifierConfig:
    """``model.arch: rnn-classifier``: :class:`RNNClassifier`'s sizes, cell and pooling."""

    arch: str = "rnn-classifier"
    emb_dim: int = 64
    hidden_dim: int = 64
    cell: str = "lstm"  # lstm | gru
    layers: int = 1
    pooling: str = "attention"  # attention | last
    attn_dim: int = 64
    dropout: float = 0.1

    def check(self) -> None:
        check_positive(self, "emb_dim", "hidden_dim", "layers", "attn_dim", section="model")
        check_dropout(self.dropout)
        if self.cell not in CELLS:
            raise ConfigError(f"model.cell: unknown {self.cell!r}; choose one of: {', '.join(CELLS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"model.pooling: unknown {self.pooling!r}; choose one of: {', '.join(POOLINGS)}")


class RNNClassifierFamily:
    """Document classification with a bidirectional RNN, final states or attention pooling."""

    name = "rnn-classifier"
    config_class = RNNClassifierConfig
    spec_class = DocumentSpec

    @classmethod
    def build(cls, cfg: RNNClassifierConfig, spec: ModelSpec) -> nn.Module:
        if not isinstance(spec, DocumentSpec):
            raise ConfigError(f"model.arch={cls.name} needs a document classification task")
        return RNNClassifier(
            spec.vocab_size,
            spec.n_classes,
            emb_dim=cfg.emb_dim,
            hidden_dim=cfg.hidden_dim,
            cell=cfg.cell,
            layers=cfg.layers,
            pooling=cfg.pooling,
            attn_dim=cfg.attn_dim,
            dropout=cfg.dropout,
            pad_id=spec.pad_id,
        )

    @classmethod
    def label(cls, cfg: RNNClassifierConfig) -> str:
        return f"{cfg.cell}-{cfg.pooling}"

    @classmethod
    def capabilities(cls, cfg: RNNClassifierConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Pooling weights over the words (the document view); attention only with ``pooling:
        attention``; no decoding, no per-layer maps."""
        return ModelCapabilities(attention=cfg.pooling == "attention")


FAMILIES.register(
    "rnn-classifier",
    RNNClassifierFamily,
    "documents as flat word sequences: a bidirectional LSTM/GRU, final states or attention pooling",
    "[Hochreiter97]; [Yang16]",
)
