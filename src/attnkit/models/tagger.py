"""Sequence labelling models (:class:`~attnkit.models.specs.TaggingSpec`): one label per word for
each target, from a shared encoder of words and their characters.

A :class:`Tagger` is a :class:`TaggerEncoder` plus one linear head per target (``heads.<target>``).
The encoder is an input layer, :class:`~attnkit.models.tagger_input.WordCharEmbedding` (a word
embedding beside a character encoder, so that a word outside the vocabulary, id 1 = ``<unk>``,
still has a representation of its spelling; re-exported here), followed by one of four bodies:

- :class:`TransformerBody`: pre-LN self-attention blocks (:class:`~attnkit.models.transformer.EncoderLayer`
  on :class:`~attnkit.nn.MultiHeadAttention`) with any positional encoding of
  :data:`attnkit.nn.POSITIONAL` [Vaswani17];
- :class:`BiLSTMBody`: a bidirectional LSTM [Huang15], [Plank16];
- :class:`ConvBody`: stacked 1-D convolutions over the words [Collobert11];
- :class:`BiLSTMAttentionBody`: a BiLSTM followed by one multi-head self-attention layer with a
  residual connection and LayerNorm.

Every body takes the input vectors (B, T, Din) and the padding mask (B, T) and returns the hidden
states (B, T, D) and a list of (B, Nh, T, T) self-attention maps, one per self-attention layer
(empty for the BiLSTM and the CNN). Padding never changes a real word's output: the LSTMs run on
packed sequences, the convolutions see zeros at padding positions (as their own zero padding),
and attention gives padding keys exactly 0 weight. The masked-language-model helper reuses the
:class:`TaggerEncoder` (its parameters live under ``encoder.``), so that a tagger fine-tuned
from a pretraining run loads ``encoder.*`` and skips ``heads.word``.

Word ids: 0 = padding, 1 = ``<unk>``, 2 = ``<mask>``, real words from 3 (:data:`FIRST_WORD_ID`);
character ids: 0 = padding.

References:
    [Vaswani17] A. Vaswani et al. Attention Is All You Need. NeurIPS 2017. arXiv:1706.03762.
    [Huang15] Z. Huang, W. Xu, K. Yu. Bidirectional LSTM-CRF Models for Sequence Tagging. 2015.
    arXiv:1508.01991.
    [Plank16] B. Plank, A. Søgaard, Y. Goldberg. Multilingual Part-of-Speech Tagging with
    Bidirectional Long Short-Term Memory Models and Auxiliary Loss. ACL 2016. arXiv:1604.05529.
    [Collobert11] R. Collobert, J. Weston, L. Bottou, M. Karlen, K. Kavukcuoglu, P. Kuksa.
    Natural Language Processing (Almost) from Scratch. JMLR 12, 2011. arXiv:1103.0398.
    [Xiong20] R. Xiong et al. On Layer Normalization in the Transformer Architecture. ICML 2020.
    arXiv:2002.04745.
    [Press17] O. Press, L. Wolf. Using the Output Embedding to Improve Language Models. EACL
    2017. arXiv:1608.05859.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..nn.dropout import Dropout
from ..nn.multihead import MultiHeadAttention
from ..nn.positional import ALiBi, PositionKind, build_positional
from .tagger_input import CHAR_ENCODERS, FIRST_WORD_ID, MASK_ID, UNK_ID, CharBiLSTM, CharCNN, WordCharEmbedding
from .tagging_io import TaggerOutput
from .transformer import EncoderLayer

__all__ = [
    "UNK_ID",
    "MASK_ID",
    "FIRST_WORD_ID",
    "CHAR_ENCODERS",
    "CharCNN",
    "CharBiLSTM",
    "WordCharEmbedding",
    "TransformerBody",
    "BiLSTMBody",
    "ConvBody",
    "BiLSTMAttentionBody",
    "EncoderOutput",
    "TaggerEncoder",
    "TiedWordHead",
    "Tagger",
    "SelfAttentionTagger",
]


def _lengths(mask: Tensor) -> Tensor:
    """Words per row (B,) on the CPU, at least 1 (a row of padding only gets one dummy step)."""
    return mask.sum(-1).clamp(min=1).cpu()


class TransformerBody(nn.Module):
    """Pre-LN Transformer encoder blocks over the word vectors [Vaswani17] Sec. 3.1, 3.5.

    x = sqrt(D) W_in e + positions; then `layers` blocks x = x + MHA(LN(x)); x = x + FFN(LN(x));
    then a final LayerNorm. Our ``proj`` (W_in) maps the word vectors to D in place of the
    paper's embedding matrix, hence the same sqrt(D) factor (Sec. 3.4).

    Args:
        in_dim: width of the input word vectors, Din.
        d_model: D; n_heads: Nh (D divisible by Nh); layers: blocks; d_ff: feed-forward width.
        dropout: on the sums of vectors and positions, attention weights and sublayer outputs.
        positional: a name of :data:`attnkit.nn.POSITIONAL` (sinusoidal, learned, rope, alibi, none).
        max_len: longest sentence, in words (position tables).
        attention_kernel: the self-attention's kernel, a name of
            :data:`attnkit.functional.efficient.ATTENTION_KERNELS` (``dense`` by default).
        kernel_options: that kernel's options (``{"window": 32}``).

    Differences from the paper:
        pre-LN blocks [Xiong20] with a final LayerNorm (the paper is post-LN); an input
        projection instead of an embedding table.
    """

    attends = True

    def __init__(
        self,
        in_dim: int,
        *,
        d_model: int,
        n_heads: int,
        layers: int,
        d_ff: int,
        dropout: float,
        positional: str,
        max_len: int,
        attention_kernel: str = "dense",
        kernel_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.width, self.n_heads, self.scale = d_model, n_heads, math.sqrt(d_model)
        self.proj = nn.Linear(in_dim, d_model)
        pos = build_positional(positional, d_model=d_model, n_heads=n_heads, max_len=max_len, dropout=dropout)
        rotary = pos if pos.kind is PositionKind.ROTARY else None  # rotates q and k in every layer
        self.alibi = cast(ALiBi, pos) if pos.kind is PositionKind.SCORE_BIAS else None
        self.positions = pos if pos.kind is PositionKind.EMBEDDINGS else None
        self.dropout = Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(
                d_model,
                n_heads,
                d_ff,
                dropout,
                True,
                None,
                rotary,
                kernel=attention_kernel,
                kernel_options=kernel_options,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = True) -> tuple[Tensor, list[Tensor]]:
        """x (B, T, Din), mask (B, T) True = word -> hidden (B, T, D), per layer (B, Nh, T, T)."""
        h = self.proj(x) * self.scale  # Sec. 3.4
        h = self.positions(h) if self.positions is not None else self.dropout(h)  # Sec. 3.5
        t = x.shape[1]
        bias = None if self.alibi is None else self.alibi.bias(t, t, device=x.device).unsqueeze(0)
        maps = []
        for layer in self.layers:
            h, weights = layer(h, mask, bias, need_weights)
            if weights is not None:
                maps.append(weights)
        return self.norm(h), maps


class BiLSTMBody(nn.Module):
    """A bidirectional LSTM over the word vectors; h_t = [forward h_t; backward h_t] [Huang15]
    Sec. 2.3, [Plank16] Sec. 2.

    Args:
        in_dim: width of the input word vectors.
        hidden: LSTM units per direction (output D = 2 hidden).
        layers: stacked BiLSTM layers.
        dropout: between layers and on the output.

    Differences from the papers:
        no CRF layer on top [Huang15] (each word's label is chosen independently).
    """

    attends, n_heads = False, 1

    def __init__(self, in_dim: int, *, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.width = 2 * hidden
        self.lstm = nn.LSTM(
            in_dim, hidden, layers, batch_first=True, bidirectional=True, dropout=dropout if layers > 1 else 0.0
        )
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = True) -> tuple[Tensor, list[Tensor]]:
        """x (B, T, Din), mask (B, T) (real words first) -> hidden (B, T, D), no maps."""
        packed = pack_padded_sequence(x, _lengths(mask), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, 2 hidden)
        return self.dropout(h), []


class ConvBody(nn.Module):
    """Stacked 1-D convolutions over the words, each inside a residual connection [Collobert11]
    Sec. 3.3.2 (the sentence approach's convolutional layer, here without its max over time).

    x = W_in e; then `layers` times x = x + dropout(ReLU(conv(x))), with zeros at padding positions
    before each convolution, so that a word sees padding as the convolution's own zero padding.

    Args:
        in_dim: width of the input word vectors.
        channels: width D of every layer.
        kernel: window in words (odd, so that each output is centred on its word).
        layers: convolutions; the receptive field is 1 + layers (kernel - 1) words.
        dropout: on each convolution's output.

    Differences from the paper:
        residual connections and ReLU (the paper: one layer and HardTanh); no max over time,
        since we label each word.
    """

    attends, n_heads = False, 1

    def __init__(self, in_dim: int, *, channels: int, kernel: int, layers: int, dropout: float) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"the word kernel must be odd and >= 1, got {kernel}")
        self.width = channels
        self.proj = nn.Linear(in_dim, channels)
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=kernel // 2) for _ in range(layers))
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = True) -> tuple[Tensor, list[Tensor]]:
        """x (B, T, Din), mask (B, T) -> hidden (B, T, D), no maps."""
        keep = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = self.proj(x).transpose(1, 2)  # (B, D, T)
        for conv in self.convs:
            h = h + self.dropout(F.relu(conv(h * keep)))  # Sec. 3.3.2, residual
        return h.transpose(1, 2), []


class BiLSTMAttentionBody(nn.Module):
    """A BiLSTM, then one multi-head self-attention layer over its states with a residual
    connection and LayerNorm: h = BiLSTM(x); out = LN(h + MHA(h, h, h)) [Huang15], [Vaswani17]
    Sec. 3.2.2.

    Args:
        in_dim: width of the input word vectors.
        hidden: LSTM units per direction (D = 2 hidden, divisible by `n_heads`).
        layers: stacked BiLSTM layers.
        n_heads: attention heads Nh.
        dropout: in the BiLSTM, on the attention weights and on the attention's output.

    Differences from the papers:
        the attention layer has no feed-forward sublayer and no positional encoding (the BiLSTM
        states carry position).
    """

    attends = True

    def __init__(self, in_dim: int, *, hidden: int, layers: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.rnn = BiLSTMBody(in_dim, hidden=hidden, layers=layers, dropout=dropout)
        self.width, self.n_heads = self.rnn.width, n_heads
        self.attn = MultiHeadAttention(self.width, n_heads, dropout=dropout)
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(self.width)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = True) -> tuple[Tensor, list[Tensor]]:
        """x (B, T, Din), mask (B, T) -> hidden (B, T, D), [weights (B, Nh, T, T)] (if asked)."""
        h, _ = self.rnn(x, mask)
        out = self.attn(h, mask=mask, need_weights=need_weights)  # Eq. 1, padding keys get 0
        return self.norm(h + self.dropout(out.output)), [] if out.weights is None else [out.weights]


Body = TransformerBody | BiLSTMBody | ConvBody | BiLSTMAttentionBody


class EncoderOutput(NamedTuple):
    """What :meth:`TaggerEncoder.forward` returns."""

    hidden: Tensor  # (B, T, D)
    attention: list[Tensor]  # per self-attention layer (B, Nh, T, T); empty without one


class TaggerEncoder(nn.Module):
    """Words and characters -> a vector per word in context: :class:`WordCharEmbedding` then a
    body (:class:`TransformerBody`, :class:`BiLSTMBody`, :class:`ConvBody` or
    :class:`BiLSTMAttentionBody`).

    Reusable beneath any head: the tagger, masked-language-model pretraining, a document
    classifier pooling its hidden states. Parameter names: ``embed.words.weight``,
    ``embed.chars.*`` (absent when char_dim is 0), ``body.*``.

    Args:
        embed: the input layer.
        body: the contextual layers; its input width must be ``embed.width``.

    Attributes:
        width: D, the hidden states' width.
        attends: whether the body has self-attention layers (and returns their maps).
        n_heads: heads of its self-attention layers (1 without any).
    """

    def __init__(self, embed: WordCharEmbedding, body: Body) -> None:
        super().__init__()
        self.embed, self.body = embed, body
        self.width: int = body.width
        self.attends: bool = body.attends
        self.n_heads: int = body.n_heads

    def forward(self, words: Tensor, chars: Tensor | None, mask: Tensor, *, need_weights: bool = True) -> EncoderOutput:
        """Encode a padded batch of sentences.

        Args:
            words: word ids (B, T) int64 (0 = padding, 1 = ``<unk>``, 2 = ``<mask>``).
            chars: character ids (B, T, L) int64 (0 = padding, each word's characters first);
                None for an encoder without characters.
            mask: (B, T) bool, True = a real word; real words first in each row.
            need_weights: return the self-attention maps (the explicit attention path); False
                lets self-attention use the fused kernel (same hidden states).

        Returns:
            :class:`EncoderOutput`: hidden (B, T, D); attention, per self-attention layer
            (B, Nh, T, T), padding keys exactly 0 (rows of padding queries are arbitrary but finite).

        Raises:
            ValueError: if the shapes of `words`, `chars` and `mask` disagree.
        """
        if words.dim() != 2 or mask.shape != words.shape or (chars is not None and chars.shape[:2] != words.shape):
            raise ValueError(
                f"expected words (B, T), chars (B, T, L) and mask (B, T), got {tuple(words.shape)}, "
                f"{None if chars is None else tuple(chars.shape)} and {tuple(mask.shape)}"
            )
        hidden, attention = self.body(self.embed(words, chars), mask, need_weights)
        return EncoderOutput(hidden, attention)


class TiedWordHead(nn.Module):
    """Word scores from the input word embedding transposed: logits = (W_p h) E^T + b [Press17].

    Holds ``proj`` (D -> word_dim) and ``bias`` (V,) only; the embedding E is passed to
    :meth:`forward`, so the checkpoint stores it once.
    """

    def __init__(self, width: int, word_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, word_dim)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, hidden: Tensor, embedding: Tensor) -> Tensor:
        """hidden (B, T, D), embedding (V, word_dim) -> (B, T, V)."""
        return F.linear(self.proj(hidden), embedding, self.bias)


class Tagger(nn.Module):
    """A :class:`TaggerEncoder` and one linear head per target, ``heads.<target>`` [Huang15] Sec.
    2.3 (the softmax output per word), [Plank16] Sec. 2 (one output layer per task).

    Args:
        encoder: the shared encoder.
        targets: (name, number of labels) per head, in the spec's order.
        tie_word: a target named ``word`` of V labels scores words through the word embedding
            (:class:`TiedWordHead`; masked-language-model pretraining).

    Raises:
        ValueError: for no targets, a target name with a dot, or `tie_word` without a ``word``
            target of V labels.
    """

    def __init__(self, encoder: TaggerEncoder, targets: tuple[tuple[str, int], ...], *, tie_word: bool = False):
        super().__init__()
        vocab, word_dim = encoder.embed.words.weight.shape
        if not targets or any("." in name or not name for name, _ in targets):
            raise ValueError(f"a tagger needs at least one target, each named without dots; got {targets}")
        if tie_word and dict(targets).get("word") != vocab:
            raise ValueError(f"tie_word needs a target named word with {vocab} labels (the vocabulary); got {targets}")
        self.encoder, self.tie_word = encoder, tie_word
        self.heads = nn.ModuleDict(
            {
                name: TiedWordHead(encoder.width, word_dim, n)
                if tie_word and name == "word"
                else nn.Linear(encoder.width, n)
                for name, n in targets
            }
        )
        self.uses_attention = encoder.attends

    def forward(self, words: Tensor, chars: Tensor | None, mask: Tensor, *, need_weights: bool = True) -> TaggerOutput:
        """Score every label of every target for every word.

        Args:
            words, chars, mask, need_weights: as :meth:`TaggerEncoder.forward`.

        Returns:
            :class:`~attnkit.models.tagging_io.TaggerOutput`: logits per target (B, T, n),
            hidden (B, T, D), attention per self-attention layer (B, Nh, T, T).
        """
        hidden, attention = self.encoder(words, chars, mask, need_weights=need_weights)
        logits = {}
        for name, head in self.heads.items():
            if isinstance(head, TiedWordHead):
                logits[name] = head(hidden, self.encoder.embed.words.weight)
            else:
                logits[name] = head(hidden)
        return TaggerOutput(logits, hidden, attention)


class SelfAttentionTagger(Tagger):
    """A :class:`Tagger` whose encoder has self-attention layers, with their maps on request
    (``attention_maps``, what a family declaring ``layer_maps`` promises).

    Raises:
        ValueError: for an encoder without self-attention, besides the errors of :class:`Tagger`.
    """

    def __init__(self, encoder: TaggerEncoder, targets: tuple[tuple[str, int], ...], *, tie_word: bool = False):
        if not encoder.attends:
            raise ValueError("SelfAttentionTagger needs an encoder with self-attention; use Tagger")
        super().__init__(encoder, targets, tie_word=tie_word)

    def attention_maps(self, words: Tensor, chars: Tensor | None, mask: Tensor) -> list[Tensor]:
        """Every self-attention layer's weights, bottom first, per layer (B, Nh, T, T); rows of
        real words sum to 1 over the real words (arguments as :meth:`TaggerEncoder.forward`)."""
        return self.forward(words, chars, mask).attention
