"""Hierarchical Attention Network for document classification [Yang16].

A document is a list of sentences, a sentence a list of words. A bidirectional GRU reads the
words of each sentence and :class:`~attnkit.nn.pooling.AttentionPooling` turns its annotations
into a sentence vector (word level); a second bidirectional GRU reads the sentence vectors and a
second pooling turns them into the document vector (sentence level), which a linear layer maps
to class logits. Both levels return their attention weights, so a picture can shade the words
and sentences the classifier relied on ([Yang16] Sec. 3.5).

Padding never reaches a representation: both GRUs run on packed sequences, the word GRU only on
the real (non-empty) sentences, and both poolings mask padding out of their softmax.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..functional import padding_mask
from ..nn.dropout import Dropout
from ..nn.pooling import AttentionPooling
from .rnn.encoder import RNNEncoder

__all__ = ["HierarchicalAttentionNetwork", "HANOutput"]


class HANOutput(NamedTuple):
    """Output of :class:`HierarchicalAttentionNetwork`."""

    logits: Tensor  # unnormalised class scores, (B, C)
    word_weights: Tensor  # alpha_it per word of each sentence, (B, S, W); 0 on padding
    sentence_weights: Tensor  # alpha_i per sentence, (B, S); 0 on padding sentences


class HierarchicalAttentionNetwork(nn.Module):
    """Word encoder + word attention + sentence encoder + sentence attention + classifier
    [Yang16] Sec. 2.2 (Eqs. 5-10) and Sec. 2.3 (Eq. 11).

    Our `hidden_dim` is the GRU width per direction (the paper's 50), so annotations and the
    sentence and document vectors have width 2 * hidden_dim; `attn_dim` is the width of the
    context vectors u_w and u_s (the paper's 100); `emb_dim` is the paper's 200 (Sec. 3.3).

    Args:
        vocab_size: vocabulary size V.
        n_classes: number of classes C.
        emb_dim: word embedding width E.
        hidden_dim: GRU hidden width per direction H (both levels).
        attn_dim: width Da of the attention hidden layers and context vectors (both levels).
        dropout: probability in [0, 1) of zeroing word embeddings and document-vector features
            while training.
        pad_id: index of the padding word; its embedding is fixed at zero.

    Differences from the paper:
        embeddings are learned from scratch (the paper initialises them with word2vec,
        Sec. 3.3); dropout is an addition (0 by default); the model returns logits and leaves
        the softmax of Eq. 11 and the loss of Eq. 12 to ``cross_entropy``.
    """

    def __init__(
        self,
        vocab_size: int,
        n_classes: int,
        *,
        emb_dim: int = 64,
        hidden_dim: int = 64,
        attn_dim: int = 64,
        dropout: float = 0.0,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.word_encoder = RNNEncoder(
            vocab_size, emb_dim, hidden_dim, cell="gru", bidirectional=True, dropout=dropout, pad_id=pad_id
        )
        self.word_attention = AttentionPooling(2 * hidden_dim, attn_dim)
        self.sentence_encoder = nn.GRU(2 * hidden_dim, hidden_dim, bidirectional=True, batch_first=True)
        self.sentence_attention = AttentionPooling(2 * hidden_dim, attn_dim)
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden_dim, n_classes)  # W_c, b_c

    def forward(self, tokens: Tensor, sentence_lengths: Tensor, n_sentences: Tensor) -> HANOutput:
        """Class logits and the attention weights of both levels.

        Args:
            tokens: word ids (B, S, W): up to S sentences of up to W words per document, padded
                (after the real words and after the real sentences) with any valid id.
            sentence_lengths: words per sentence, (B, S), integer: in [1, W] for the first
                ``n_sentences[b]`` sentences of document b and 0 for its padding sentences.
            n_sentences: sentences per document, (B,), integer, in [1, S].

        Returns:
            :class:`HANOutput` with logits (B, C), word weights (B, S, W) summing to 1 over the
            real words of each real sentence, and sentence weights (B, S) summing to 1 over the
            real sentences; both exactly 0 on padding.

        Raises:
            ValueError: if `tokens` is not 3-D, the lengths do not match its shape, or a length
                lies outside the ranges above.

        References:
            [Yang16] Sec. 2.2: word encoder and attention (Eqs. 5-7), sentence encoder and
            attention (Eqs. 8-10); Sec. 2.3, Eq. 11 (classifier, before the softmax).
        """
        _check_inputs(tokens, sentence_lengths, n_sentences)
        b, s, w = tokens.shape
        sentences, word_weights = self._encode_sentences(tokens.reshape(b * s, w), sentence_lengths.reshape(-1))
        sentences = sentences.view(b, s, -1)  # s_i, (B, S, 2H)
        packed = pack_padded_sequence(sentences, n_sentences.cpu(), batch_first=True, enforce_sorted=False)
        annotations, _ = pad_packed_sequence(
            self.sentence_encoder(packed)[0], batch_first=True, total_length=s
        )  # h_i, (B, S, 2H)
        sentence_mask = padding_mask(n_sentences.to(tokens.device), s)  # (B, S)
        document, sentence_weights = self.sentence_attention(annotations, sentence_mask)  # v: Eqs. 8-10
        logits = self.classifier(self.dropout(document))  # (B, C)   Eq. 11 before the softmax
        return HANOutput(logits, word_weights.view(b, s, w), sentence_weights)

    def _encode_sentences(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Sentence vectors (N, 2H) and word weights (N, W) of N = B * S sentences (N, W);
        only the non-empty ones are encoded, the empty ones get zeros."""
        real = torch.nonzero(lengths > 0).squeeze(-1)  # (Nr,) indices of real sentences
        annotations, _ = self.word_encoder(tokens[real], lengths[real])  # h_it, (Nr, W, 2H)
        word_mask = padding_mask(lengths[real], tokens.shape[1])  # (Nr, W)
        vectors, weights = self.word_attention(annotations, word_mask)  # Eqs. 5-7
        n, w = tokens.shape
        all_vectors = vectors.new_zeros(n, vectors.shape[-1]).index_copy(0, real, vectors)  # (N, 2H)
        all_weights = weights.new_zeros(n, w).index_copy(0, real, weights)  # (N, W)
        return all_vectors, all_weights


def _check_inputs(tokens: Tensor, sentence_lengths: Tensor, n_sentences: Tensor) -> None:
    """Raise ValueError unless the shapes and lengths describe a consistent padded batch."""
    if tokens.dim() != 3:
        raise ValueError(
            f"tokens must be (B, S, W) word ids, got shape {tuple(tokens.shape)}; "
            "wrap a single document as tokens[None]"
        )
    b, s, w = tokens.shape
    if sentence_lengths.shape != (b, s) or n_sentences.shape != (b,):
        raise ValueError(
            f"sentence_lengths must be (B, S) = {(b, s)} and n_sentences (B,) = {(b,)}, got "
            f"{tuple(sentence_lengths.shape)} and {tuple(n_sentences.shape)}"
        )
    if sentence_lengths.is_floating_point() or n_sentences.is_floating_point():
        raise ValueError("sentence_lengths and n_sentences must be integer tensors")
    if b and (int(n_sentences.min()) < 1 or int(n_sentences.max()) > s):
        raise ValueError(f"n_sentences must lie in [1, S={s}], got {n_sentences.tolist()}")
    if b and (int(sentence_lengths.min()) < 0 or int(sentence_lengths.max()) > w):
        raise ValueError(
            f"sentence_lengths must lie in [0, W={w}], got max {int(sentence_lengths.max())} "
            f"and min {int(sentence_lengths.min())}"
        )
    real = padding_mask(n_sentences, s)  # (B, S)
    if bool(((sentence_lengths > 0) != real).any()):
        raise ValueError(
            "the first n_sentences[b] sentences of document b must have >= 1 word and the "
            "padding sentences after them 0 words; drop empty sentences before batching"
        )
