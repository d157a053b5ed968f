"""The input layer of the sequence labelling models (:mod:`attnkit.models.tagger`): a word
embedding beside a character encoder, so that a word outside the vocabulary (id 1 = ``<unk>``)
still has a representation of its spelling; word dropout teaches the model to use it.

Word ids: 0 = padding, 1 = ``<unk>``, 2 = ``<mask>``, real words from 3 (:data:`FIRST_WORD_ID`);
character ids: 0 = padding, each word's characters first.

References:
    [Plank16] B. Plank, A. Søgaard, Y. Goldberg. Multilingual Part-of-Speech Tagging with
    Bidirectional Long Short-Term Memory Models and Auxiliary Loss. ACL 2016. arXiv:1604.05529.
    [Ma16] X. Ma, E. Hovy. End-to-end Sequence Labeling via Bi-directional LSTM-CNNs-CRF. ACL
    2016. arXiv:1603.01354.
    [Collobert11] R. Collobert, J. Weston, L. Bottou, M. Karlen, K. Kavukcuoglu, P. Kuksa.
    Natural Language Processing (Almost) from Scratch. JMLR 12, 2011. arXiv:1103.0398.
    [Bojanowski17] P. Bojanowski, E. Grave, A. Joulin, T. Mikolov. Enriching Word Vectors with
    Subword Information. TACL 2017. arXiv:1607.04606.
    [Kiperwasser16] E. Kiperwasser, Y. Goldberg. Simple and Accurate Dependency Parsing Using
    Bidirectional LSTM Feature Representations. TACL 2016. arXiv:1603.04351.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..nn.dropout import Dropout

__all__ = [
    "UNK_ID",
    "MASK_ID",
    "FIRST_WORD_ID",
    "CHAR_ENCODERS",
    "CharCNN",
    "CharBiLSTM",
    "SuffixEmbedding",
    "WordCharEmbedding",
]

UNK_ID = 1  # <unk>: a word outside the vocabulary (and the word dropout's replacement)
MASK_ID = 2  # <mask>: a word hidden by masked-language-model pretraining
FIRST_WORD_ID = 3  # ids below are padding and the specials: word dropout leaves them alone
CHAR_ENCODERS = ("cnn", "bilstm")  # the character encoders of WordCharEmbedding, by name


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
        self.dropout = Dropout(dropout)
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
        self.dropout = Dropout(dropout)
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


class SuffixEmbedding(nn.Module):
    """A word's endings -> the sum of hashed embeddings of its last 1, 2, ..., `max_suffix`
    characters: suffix features (as [Collobert11] add to their part-of-speech tagger) kept as
    hashed character n-gram embeddings [Bojanowski17], so that an unseen word's inflection (its
    ending) has vectors learned from the seen words that share it.

    Suffix n of a word of length m (characters m - n .. m - 1) is hashed, with its length, into
    one of `buckets` rows; suffixes longer than the word are skipped.

    Args:
        dim: output width.
        max_suffix: longest suffix, in characters.
        buckets: rows of the hashed table (distinct suffixes may share one).

    Differences from the papers:
        suffixes only (no prefixes or inner n-grams) and no vocabulary of suffixes: the table is
        hashed, so the model needs nothing from the task beyond the character ids.
    """

    _PRIME = 1_000_003  # multiplier of the polynomial hash (odd; h * prime stays far below 2^63)

    def __init__(self, dim: int, *, max_suffix: int = 4, buckets: int = 2**15) -> None:
        super().__init__()
        if dim < 1 or max_suffix < 1 or buckets < 2:
            raise ValueError(f"need dim >= 1, max_suffix >= 1, buckets >= 2; got {dim}, {max_suffix}, {buckets}")
        self.width, self.max_suffix, self.buckets = dim, max_suffix, buckets
        self.embedding = nn.Embedding(buckets + 1, dim, padding_idx=0)  # row 0: no such suffix
        nn.init.normal_(self.embedding.weight, std=(max_suffix * dim) ** -0.5)
        with torch.no_grad():
            self.embedding.weight[0].zero_()

    def suffix_ids(self, chars: Tensor) -> Tensor:
        """chars (B, T, L) (0 = padding, real characters first) -> row ids (B, T, max_suffix), 0
        where the word is shorter than the suffix."""
        n_chars = (chars != 0).sum(-1)  # (B, T)
        h = torch.zeros_like(n_chars)
        ids = []
        for n in range(1, self.max_suffix + 1):
            pos = n_chars - n  # the suffix's first character
            c = chars.gather(-1, pos.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
            h = (h * self._PRIME + c) % self.buckets  # hash of the last n characters, read backwards
            ids.append(torch.where(pos >= 0, (h * self._PRIME + n) % self.buckets + 1, 0))
        return torch.stack(ids, dim=-1)  # (B, T, max_suffix)

    def forward(self, chars: Tensor) -> Tensor:
        """chars (B, T, L) int64 -> (B, T, dim)."""
        return self.embedding(self.suffix_ids(chars)).sum(-2)


class WordCharEmbedding(nn.Module):
    """The input layer: [word embedding; character encoding; suffix features] per word, then
    dropout [Plank16] Sec. 2 (w + c), [Ma16] Sec. 2.1.

    Args:
        vocab_size: word vocabulary size V (0 = padding, 1 = ``<unk>``, 2 = ``<mask>``).
        char_vocab_size: character vocabulary size (0 = padding).
        word_dim: word embedding width.
        char_dim: character encoding width; 0 = words only (no character encoder).
        char_encoder: ``"cnn"`` (:class:`CharCNN`) or ``"bilstm"`` (:class:`CharBiLSTM`).
        char_emb: character embedding width.
        char_kernel: the character CNN's window, in characters (odd).
        suffix_dim: width of the hashed suffix features (:class:`SuffixEmbedding`); 0 = none.
        max_suffix: their longest suffix, in characters.
        suffix_buckets: rows of their hashed table.
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
        suffix_dim: int = 0,
        max_suffix: int = 4,
        suffix_buckets: int = 2**15,
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
        self.word_dropout, self.width = word_dropout, word_dim + char_dim + suffix_dim
        self.words = nn.Embedding(vocab_size, word_dim, padding_idx=pad_id)
        nn.init.normal_(self.words.weight, std=word_dim**-0.5)
        with torch.no_grad():
            self.words.weight[pad_id].zero_()
        self.chars: CharCNN | CharBiLSTM | None = None
        if char_dim and char_encoder == "cnn":
            self.chars = CharCNN(char_vocab_size, char_dim, emb_dim=char_emb, kernel=char_kernel, dropout=dropout)
        elif char_dim:
            self.chars = CharBiLSTM(char_vocab_size, char_dim, emb_dim=char_emb, dropout=dropout)
        self.suffixes = (
            SuffixEmbedding(suffix_dim, max_suffix=max_suffix, buckets=suffix_buckets) if suffix_dim else None
        )
        self.dropout = Dropout(dropout)

    def forward(self, words: Tensor, chars: Tensor | None) -> Tensor:
        """words (B, T) and chars (B, T, L) int64 -> word vectors (B, T, word_dim + char_dim +
        suffix_dim).

        `chars` may be None when char_dim and suffix_dim are 0.

        Raises:
            ValueError: if the model reads characters and `chars` is None.
        """
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(words.shape, device=words.device) < self.word_dropout) & (words >= FIRST_WORD_ID)
            words = words.masked_fill(drop, UNK_ID)
        parts = [self.words(words)]  # (B, T, word_dim)
        if self.chars is not None or self.suffixes is not None:
            if chars is None:
                raise ValueError("this model reads each word's characters: pass chars (B, T, L)")
            if not (torch.compiler.is_exporting() or torch.jit.is_tracing()):  # an exporter cannot read values
                longest = max(int((chars != 0).sum(-1).max()), 1) if chars.numel() else 1
                chars = chars[..., :longest]  # columns of padding only change nothing: skip them
            parts += [enc(chars) for enc in (self.chars, self.suffixes) if enc is not None]
        return self.dropout(torch.cat(parts, dim=-1))  # (B, T, width)
