"""Sequence labelling models (:class:`~attnkit.models.specs.TaggingSpec`): one label per word for
each target, from a shared encoder of words and their characters.

A :class:`Tagger` is a :class:`TaggerEncoder` plus one linear head per target (``heads.<target>``).
The encoder is an input layer, :class:`WordCharEmbedding` (a word embedding beside a character
encoder, so that a word outside the vocabulary, id 1 = ``<unk>``, still has a representation of
its spelling), followed by one of four bodies:

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
    [Ma16] X. Ma, E. Hovy. End-to-end Sequence Labeling via Bi-directional LSTM-CNNs-CRF. ACL
    2016. arXiv:1603.01354.
    [Collobert11] R. Collobert, J. Weston, L. Bottou, M. Karlen, K. Kavukcuoglu, P. Kuksa.
    Natural Language Processing (Almost) from Scratch. JMLR 12, 2011. arXiv:1103.0398.
    [Kiperwasser16] E. Kiperwasser, Y. Goldberg. Simple and Accurate Dependency Parsing Using
    Bidirectional LSTM Feature Representations. TACL 2016. arXiv:1603.04351.
    [Press17] O. Press, L. Wolf. Using the Output Embedding to Improve Language Models. EACL
    2017. arXiv:1608.05859.
"""

from __future__ import annotations

import math
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..nn.multihead import MultiHeadAttention
from ..nn.positional import ALiBi, PositionKind, build_positional
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

UNK_ID = 1  # <unk>: a word outside the vocabulary (and the word dropout's replacement)
MASK_ID = 2  # <mask>: a word hidden by masked-language-model pretraining
FIRST_WORD_ID = 3  # ids below are padding and the specials: word dropout leaves them alone
CHAR_ENCODERS = ("cnn", "bilstm")  # the character encoders of WordCharEmbedding, by name


def _lengths(mask: Tensor) -> Tensor:
    """Words per row (B,) on the CPU, at least 1 (a row of padding only gets one dummy step)."""
    return mask.sum(-1).clamp(min=1).cpu()


class CharCNN(nn.Module):
    """A word's characters -> one vector: convolution over the characters, then max pooling over
    the word's characters [Ma16] Sec. 2.1, Fig. 1.

    Args:
        char_vocab_size: characters (id 0 = padding).
        char_dim: output width, the number of filters (the paper's 30).
        emb_dim: character embedding width (the paper's 30).
        kernel: window width in characters; odd, so that a word's convolution does not depend on
            how much character padding follows it (the paper's 3).
        dropout: on the character embeddings (the paper applies 0.5 before the CNN).

    Differences from the paper:
        the max runs over the word's real characters only (padding characters are excluded, a
        word without characters gets zeros), and the embeddings are initialised from N(0, 1/E)
        instead of uniform on [-sqrt(3/E), +sqrt(3/E)] (the same variance scale).
    """

    def __init__(self, char_vocab_size: int, char_dim: int, *, emb_dim: int = 30, kernel: int = 3, dropout=0.0):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"the character kernel must be odd and >= 1, got {kernel}")
        self.width = char_dim
        self.embedding = nn.Embedding(char_vocab_size, emb_dim, padding_idx=0)
        nn.init.normal_(self.embedding.weight, std=emb_dim**-0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()
        self.dropout = nn.Dropout(dropout)
        self.conv = nn.Conv1d(emb_dim, char_dim, kernel, padding=kernel // 2)

    def forward(self, chars: Tensor) -> Tensor:
        """chars (B, T, L) int64 (0 = padding) -> (B, T, char_dim)."""
        b, t, length = chars.shape
        flat = chars.reshape(b * t, length)  # (B T, L)
        x = self.dropout(self.embedding(flat)).transpose(1, 2)  # (B T, E, L); padding chars are 0
        h = self.conv(x)  # (B T, char_dim, L)
        real = (flat != 0).unsqueeze(1)  # (B T, 1, L)
        h = h.masked_fill(~real, torch.finfo(h.dtype).min).amax(-1)  # max over real characters
        h = h.masked_fill(~real.any(-1), 0.0)  # a word without characters (padding) -> 0
        return h.reshape(b, t, self.width)


class CharBiLSTM(nn.Module):
    """A word's characters -> the final states of a character BiLSTM, both directions
    concatenated [Plank16] Sec. 2 (the "c" of w + c).

    Args:
        char_vocab_size: characters (id 0 = padding).
        char_dim: output width (even: char_dim / 2 per direction).
        emb_dim: character embedding width.
        dropout: on the character embeddings.

    Raises:
        ValueError: for an odd `char_dim`.
    """

    def __init__(self, char_vocab_size: int, char_dim: int, *, emb_dim: int = 30, dropout=0.0):
        super().__init__()
        if char_dim % 2:
            raise ValueError(f"a character BiLSTM needs an even char_dim (two directions), got {char_dim}")
        self.width = char_dim
        self.embedding = nn.Embedding(char_vocab_size, emb_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(emb_dim, char_dim // 2, batch_first=True, bidirectional=True)

    def forward(self, chars: Tensor) -> Tensor:
        """chars (B, T, L) int64 (0 = padding, real characters first) -> (B, T, char_dim)."""
        b, t, length = chars.shape
        flat = chars.reshape(b * t, length)  # (B T, L)
        n_chars = (flat != 0).sum(-1)  # (B T,)
        words = n_chars.nonzero().squeeze(-1)  # rows with characters: padding words are skipped
        out = flat.new_zeros(b * t, self.width, dtype=self.embedding.weight.dtype)
        if len(words):
            x = self.dropout(self.embedding(flat[words]))  # (N, L, E)
            packed = pack_padded_sequence(x, n_chars[words].cpu(), batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(packed)  # (2, N, char_dim / 2): last forward, last backward state
            out = out.index_copy(0, words, torch.cat([h_n[0], h_n[1]], dim=-1))
        return out.reshape(b, t, self.width)


class WordCharEmbedding(nn.Module):
    """The input layer: [word embedding; character encoding] per word, then dropout [Plank16]
    Sec. 2 (w + c), [Ma16] Sec. 2.1.

    Args:
        vocab_size: word vocabulary size V (0 = padding, 1 = ``<unk>``, 2 = ``<mask>``).
        char_vocab_size: character vocabulary size (0 = padding).
        word_dim: word embedding width.
        char_dim: character encoding width; 0 = words only (no character encoder).
        char_encoder: ``"cnn"`` (:class:`CharCNN`) or ``"bilstm"`` (:class:`CharBiLSTM`).
        char_emb: character embedding width.
        char_kernel: the character CNN's window, in characters (odd).
        word_dropout: probability in [0, 1] that a real word's id (>= :data:`FIRST_WORD_ID`)
            becomes ``<unk>`` in training mode, so that the character path learns to stand in for
            unseen words [Kiperwasser16] Sec. 5 (there with probability 0.25 / (0.25 + count)).
        dropout: probability in [0, 1) of zeroing an element of the character embeddings and of
            the concatenated word vector.
        pad_id: padding id of words and characters.

    Raises:
        ValueError: for an unknown character encoder or sizes out of range.

    Differences from the papers:
        word dropout with one fixed probability, not one that decreases with the word's
        frequency; the word embedding is initialised from N(0, 1/word_dim) (the padding row 0).
    """

    def __init__(
        self,
        vocab_size: int,
        char_vocab_size: int,
        *,
        word_dim: int,
        char_dim: int = 0,
        char_encoder: str = "cnn",
        char_emb: int = 30,
        char_kernel: int = 3,
        word_dropout: float = 0.0,
        dropout: float = 0.0,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        if char_encoder not in CHAR_ENCODERS:
            raise ValueError(f"unknown char_encoder {char_encoder!r}; choose one of: {', '.join(CHAR_ENCODERS)}")
        if word_dim < 1 or char_dim < 0 or not 0.0 <= word_dropout <= 1.0:
            raise ValueError(
                f"need word_dim >= 1, char_dim >= 0, 0 <= word_dropout <= 1; got {word_dim}, {char_dim}, {word_dropout}"
            )
        self.word_dropout, self.width = word_dropout, word_dim + char_dim
        self.words = nn.Embedding(vocab_size, word_dim, padding_idx=pad_id)
        nn.init.normal_(self.words.weight, std=word_dim**-0.5)
        with torch.no_grad():
            self.words.weight[pad_id].zero_()
        self.chars: CharCNN | CharBiLSTM | None = None
        if char_dim and char_encoder == "cnn":
            self.chars = CharCNN(char_vocab_size, char_dim, emb_dim=char_emb, kernel=char_kernel, dropout=dropout)
        elif char_dim:
            self.chars = CharBiLSTM(char_vocab_size, char_dim, emb_dim=char_emb, dropout=dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, words: Tensor, chars: Tensor | None) -> Tensor:
        """words (B, T) and chars (B, T, L) int64 -> word vectors (B, T, word_dim + char_dim).

        `chars` may be None when char_dim is 0.

        Raises:
            ValueError: if the model reads characters and `chars` is None.
        """
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(words.shape, device=words.device) < self.word_dropout) & (words >= FIRST_WORD_ID)
            words = words.masked_fill(drop, UNK_ID)
        x = self.words(words)  # (B, T, word_dim)
        if self.chars is not None:
            if chars is None:
                raise ValueError("this model reads each word's characters: pass chars (B, T, L)")
            x = torch.cat([x, self.chars(chars)], dim=-1)  # (B, T, word_dim + char_dim)
        return self.dropout(x)


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
    ) -> None:
        super().__init__()
        self.width, self.n_heads, self.scale = d_model, n_heads, math.sqrt(d_model)
        self.proj = nn.Linear(in_dim, d_model)
        pos = build_positional(positional, d_model=d_model, n_heads=n_heads, max_len=max_len, dropout=dropout)
        rotary = pos if pos.kind is PositionKind.ROTARY else None  # rotates q and k in every layer
        self.alibi = cast(ALiBi, pos) if pos.kind is PositionKind.SCORE_BIAS else None
        self.positions = pos if pos.kind is PositionKind.EMBEDDINGS else None
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, True, None, rotary) for _ in range(layers)
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
        self.dropout = nn.Dropout(dropout)

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
        self.dropout = nn.Dropout(dropout)

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
        self.dropout = nn.Dropout(dropout)
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
