"""A document classifier on the sequence-labelling encoder: the document as one flat sequence of
words, the :class:`~attnkit.models.tagger.TaggerEncoder` over it, a pooling and a linear layer
(model family ``encoder-classifier``, for :class:`~attnkit.models.specs.DocumentSpec`).

It is the fine-tuning model of [Devlin19] Sec. 3.2 for one label per sequence: the encoder's
parameters keep the names a tagger gives them (``encoder.*``), so ``train.init_from`` loads them
from a masked-language-model pretraining run (``data.task: mlm``) and only the pooling and the
classifier start fresh. The words of the document's sentences are read in order, at most
``max_words`` of them (the rest is cut), words only (no character path).

Pooling: ``attention`` (:class:`~attnkit.nn.pooling.AttentionPooling` [Yang16] Eqs. 5-7 over all
the document's words) or ``mean`` (the mean of the real words' hidden states; BERT classifies
from its ``[CLS]`` vector, which a words-only encoder without such a token does not have).

The output is the HAN's (:class:`~attnkit.models.han.HANOutput`), so the Bible-sections task and
its ``document`` view take it as they take the HAN's: word weights (B, S, W) are the pooling
weights over the flat sequence put back at each word's sentence and position (uniform over the
read words with ``mean``; 0 for padding and for words past ``max_words``), and a sentence's
weight is the sum of its words' weights (both sum to 1 over the document).

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
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
from .family import FAMILIES
from .han import HANOutput
from .specs import DocumentSpec, ModelSpec, TaggingSpec
from .tagger import TaggerEncoder
from .tagger_family import TaggerTransformerConfig, TaggerTransformerFamily

__all__ = ["EncoderClassifier", "EncoderClassifierConfig", "EncoderClassifierFamily", "POOLINGS"]

POOLINGS = ("attention", "mean")


class EncoderClassifier(nn.Module):
    """Flatten a document's words, encode them, pool, classify.

    Args:
        encoder: a words-only :class:`TaggerEncoder` (``encoder.*`` as in a tagger).
        n_classes: C.
        max_words: words read per document (the first ones), T <= max_words.
        pooling: ``"attention"`` or ``"mean"``.
        attn_dim: width of the attention pooling's hidden layer and context vector.
        dropout: on the pooled vector, before the classifier.
        pad_id: the padding word id.

    Raises:
        ValueError: for an unknown pooling.
    """

    def __init__(
        self,
        encoder: TaggerEncoder,
        n_classes: int,
        *,
        max_words: int,
        pooling: str = "attention",
        attn_dim: int = 64,
        dropout: float = 0.1,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of: {', '.join(POOLINGS)}")
        self.encoder, self.max_words, self.pad_id = encoder, max_words, pad_id
        self.pool = AttentionPooling(encoder.width, attn_dim) if pooling == "attention" else None
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(encoder.width, n_classes)
        self.uses_attention = True

    def flatten(self, tokens: Tensor, sentence_lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The real words of each document in order, cut at ``max_words``.

        Args:
            tokens: (B, S, W) word ids; sentence_lengths: (B, S) real words per sentence.

        Returns:
            words (B, T) (padded with ``pad_id``), mask (B, T) True = a word, and where (B, T)
            the flat index s * W + w of each word in `tokens`' (S, W) grid.
        """
        b, s, w = tokens.shape
        real = torch.arange(w, device=tokens.device) < sentence_lengths.unsqueeze(-1)  # (B, S, W)
        real = real.reshape(b, s * w)
        rank = real.long().cumsum(-1) - 1  # position of each real word in the flat sequence
        keep = real & (rank < self.max_words)  # (B, S W)
        t = max(int(keep.sum(-1).max()), 1)
        words = tokens.new_full((b, t), self.pad_id)
        mask = torch.zeros(b, t, dtype=torch.bool, device=tokens.device)
        where = torch.zeros(b, t, dtype=torch.long, device=tokens.device)
        rows, cols = keep.nonzero(as_tuple=True)
        slot = rank[rows, cols]
        words[rows, slot] = tokens.reshape(b, s * w)[rows, cols]
        mask[rows, slot] = True
        where[rows, slot] = cols
        return words, mask, where

    def forward(self, tokens: Tensor, sentence_lengths: Tensor, n_sentences: Tensor) -> HANOutput:
        """Class logits and the pooling weights put back on the document's words.

        Args:
            tokens: (B, S, W) word ids, padded after the real words and sentences.
            sentence_lengths: (B, S) words per sentence (0 for padding sentences).
            n_sentences: (B,) sentences per document (unused: the lengths say it).

        Returns:
            :class:`~attnkit.models.han.HANOutput`: logits (B, C); word weights (B, S, W) and
            sentence weights (B, S), each summing to 1 over the document, 0 on padding and on
            words past ``max_words``.
        """
        b, s, w = tokens.shape
        words, mask, where = self.flatten(tokens, sentence_lengths)  # (B, T) each
        hidden = self.encoder(words, None, mask, need_weights=False).hidden  # (B, T, D); maps unused: fused path
        if self.pool is not None:
            pooled, weights = self.pool(hidden, mask)  # (B, D), (B, T)  [Yang16] Eqs. 5-7
        else:
            weights = mask.float() / mask.sum(-1, keepdim=True).clamp(min=1)  # (B, T)
            pooled = torch.einsum("bt,btd->bd", weights, hidden)
        logits = self.classifier(self.dropout(pooled))  # (B, C)
        grid = weights.new_zeros(b, s * w).scatter_add(1, where, weights * mask)  # (B, S W)
        word_weights = grid.view(b, s, w)
        return HANOutput(logits, word_weights, word_weights.sum(-1))


@dataclass(frozen=True)
class EncoderClassifierConfig(TaggerTransformerConfig):
    """``model.arch: encoder-classifier``: the ``tagger-transformer`` encoder's options (words only:
    ``char_dim`` is 0) plus the document reading and the pooling."""

    arch: str = "encoder-classifier"
    char_dim: int = 0
    max_words: int = 512  # words read per document (the first ones)
    pooling: str = "attention"  # attention | mean
    attn_dim: int = 64  # the attention pooling's width

    def check(self) -> None:
        super().check()
        check_positive(self, "max_words", "attn_dim", section="model")
        if self.char_dim:
            raise ConfigError(f"model.char_dim: the document classifier reads words only; set 0, got {self.char_dim}")
        if self.tie_word_head:
            raise ConfigError("model.tie_word_head applies to masked-language-model pretraining only; remove it")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"model.pooling: unknown {self.pooling!r}; choose one of: {', '.join(POOLINGS)}")
        if self.pooling == "mean" and self.attn_dim != 64:
            raise ConfigError("model.attn_dim applies to pooling=attention only; remove it")

    def ignored_fields(self) -> set[str]:
        """Options of the tagger encoder this model does not use, left out of a run's config
        (so that a later change of their defaults cannot make a saved run unloadable)."""
        unused = {"char_dim", "char_encoder", "char_emb", "char_kernel", "tie_word_head"}
        return unused | ({"attn_dim"} if self.pooling == "mean" else set())


class EncoderClassifierFamily:
    """Document classification with the sequence-labelling Transformer encoder, for fine-tuning
    from a masked-language-model run [Devlin19] Sec. 3.2."""

    name = "encoder-classifier"
    config_class = EncoderClassifierConfig
    spec_class = DocumentSpec

    @classmethod
    def build(cls, cfg: EncoderClassifierConfig, spec: ModelSpec) -> nn.Module:
        if not isinstance(spec, DocumentSpec):
            raise ConfigError(f"model.arch={cls.name} needs a document classification task")
        words = TaggingSpec(spec.vocab_size, 1, (), cfg.max_words, 1, spec.pad_id)
        return EncoderClassifier(
            TaggerTransformerFamily.encoder(cfg, words),
            spec.n_classes,
            max_words=cfg.max_words,
            pooling=cfg.pooling,
            attn_dim=cfg.attn_dim,
            dropout=cfg.dropout,
            pad_id=spec.pad_id,
        )

    @classmethod
    def label(cls, cfg: EncoderClassifierConfig) -> str:
        return f"encoder-classifier-{cfg.pooling}"

    @classmethod
    def capabilities(cls, cfg: EncoderClassifierConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Pooling weights over the words (drawn as the document view) above the encoder's
        ``n_heads``-head self-attention; no decoding, no per-layer maps."""
        return ModelCapabilities(n_heads=cfg.n_heads, attention_kernel=cfg.attention_kernel)


FAMILIES.register(
    "encoder-classifier",
    EncoderClassifierFamily,
    "documents as flat word sequences: the tagger's Transformer encoder, attention or mean pooling (fine-tuning)",
    "[Devlin19]; [Yang16]",
)
