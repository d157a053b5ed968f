"""Word alignments from subword attention: pool pieces into words, then link by argmax or threshold.

A translation model attends over subword pieces. For word alignment the weights of one sentence
pair, (To, Tk) over target and source pieces, become (J, I) over target and source words
(:func:`word_weights`): the rows of a target word's pieces are averaged (each row is a
distribution over the source, so their mean is one too), and the columns of a source word's
pieces are summed (the word's share of the attention) or averaged. Then each target word j is
linked to its most attended source word (``argmax``, one link per target word), or to every
source word whose weight reaches a threshold (``threshold``) [Garg19] Sec. 3; words are found
from SentencePiece's word-start mark ``▁`` (:func:`piece_words`).

References:
    [Garg19] S. Garg, S. Peitz, U. Nallasamy, M. Paulik. Jointly Learning to Align and Translate
    with Transformer Models. EMNLP 2019. arXiv:1909.02074.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Sequence

import torch
from torch import Tensor

from ..heads import select_heads
from .alignment import AlignmentScore, alignment_error_rate

__all__ = [
    "piece_words",
    "word_weights",
    "links_from_weights",
    "LINK_METHODS",
    "POOLINGS",
    "WORD_MARK",
    "piece_link_matrix",
    "AlignmentChoice",
    "choice_links",
    "sweep_choices",
    "SWEEP_THRESHOLDS",
]

WORD_MARK = "\u2581"  # SentencePiece's "▁", first character of a piece that starts a word
LINK_METHODS = ("argmax", "threshold")
POOLINGS = ("sum", "mean")


def piece_words(pieces: Sequence[str], n_words: int | None = None) -> list[int]:
    """The word index of each subword piece: a new word starts at a piece beginning with ``▁``.

    A piece list without any ``▁`` (a character- or word-level vocabulary) has one word per piece.

    Args:
        pieces: SentencePiece pieces of one sentence, e.g. ``["▁τὸν", "▁Ἀβ", "ιά"]``.
        n_words: if given, the number of whitespace words the text has, checked.

    Returns:
        One word index (0-based) per piece, e.g. ``[0, 1, 1]``.

    Raises:
        ValueError: if `n_words` disagrees with the pieces' words (text changed by the subword
            model's normalisation), or a piece before the first ``▁`` would belong to no word.
    """
    if not any(p.startswith(WORD_MARK) for p in pieces):
        words = list(range(len(pieces)))
    else:
        if pieces and not pieces[0].startswith(WORD_MARK):
            raise ValueError(f"piece {pieces[0]!r} comes before the first word mark {WORD_MARK!r}")
        words, n = [], -1
        for p in pieces:
            n += p.startswith(WORD_MARK)
            words.append(n)
    found = (words[-1] + 1) if words else 0
    if n_words is not None and found != n_words:
        raise ValueError(
            f"the subword pieces make {found} words but the text has {n_words}; links would "
            "not line up (is the subword model normalising whitespace?)"
        )
    return words


def _pool(weights: Tensor, groups: Sequence[int], dim: int, mean: bool) -> Tensor:
    n = max(groups) + 1
    onehot = torch.zeros(len(groups), n, dtype=weights.dtype, device=weights.device)
    onehot[torch.arange(len(groups)), torch.as_tensor(groups)] = 1.0  # (pieces, words)
    if mean:
        onehot = onehot / onehot.sum(0, keepdim=True)
    return weights @ onehot if dim == -1 else (onehot.T @ weights)


def word_weights(
    weights: Tensor, src_words: Sequence[int], tgt_words: Sequence[int], *, source_pool: str = "sum"
) -> Tensor:
    """Attention over pieces pooled into attention over words.

    Args:
        weights: (..., To, Tk) alignment weights in [0, 1] of To target pieces over Tk source
            pieces (rows of real tokens only: no ``</s>`` row, no padding).
        src_words: word index of each source piece, length Tk (:func:`piece_words`).
        tgt_words: word index of each target piece, length To.
        source_pool: ``sum`` (a word's share of the attention) or ``mean`` of its pieces' columns.

    Returns:
        (..., J, I) weights of J target words over I source words; rows are means of their
        pieces' rows.

    Raises:
        ValueError: for an unknown pooling or groups that do not match the weights' shape.
    """
    if source_pool not in POOLINGS:
        raise ValueError(f"source_pool must be one of {', '.join(POOLINGS)}, got {source_pool!r}")
    if weights.shape[-1] != len(src_words) or weights.shape[-2] != len(tgt_words):
        raise ValueError(
            f"weights of shape {tuple(weights.shape)} do not match {len(tgt_words)} target and "
            f"{len(src_words)} source pieces"
        )
    pooled = _pool(weights, src_words, -1, source_pool == "mean")  # (..., To, I)
    return _pool(pooled, tgt_words, -2, True)  # (..., J, I)


def links_from_weights(weights: Tensor, method: str = "argmax", threshold: float = 0.5) -> set[tuple[int, int]]:
    """Discrete links (source word i, target word j) from word-level weights (J, I).

    Args:
        weights: (J, I) attention of target words over source words, in [0, 1].
        method: ``argmax``: each target word to its most attended source word (ties: the first);
            ``threshold``: every pair whose weight is >= `threshold`.
        threshold: dimensionless weight in [0, 1], for ``threshold``.

    Raises:
        ValueError: for an unknown method or weights that are not 2-D.
    """
    if weights.dim() != 2:
        raise ValueError(f"need (J, I) word weights, got shape {tuple(weights.shape)}")
    if method == "argmax":
        if weights.shape[1] == 0:
            return set()
        return {(int(i), j) for j, i in enumerate(weights.argmax(dim=1).tolist())}
    if method == "threshold":
        return {(int(i), int(j)) for j, i in (weights >= threshold).nonzero().tolist()}
    raise ValueError(f"unknown link method {method!r}; choose one of: {', '.join(LINK_METHODS)}")


def piece_link_matrix(
    links: set[tuple[int, int]] | Sequence[tuple[int, int]], src_words: Sequence[int], tgt_words: Sequence[int]
) -> Tensor:
    """Word links spread to pieces, rows normalised: the target of guided alignment [Garg19] Sec. 4.

    Every piece of target word j is linked to every piece of source word i for each link (i, j);
    each row with links is divided by its number of links (the row-normalised G^p of [Garg19]);
    rows of unaligned target pieces are all zero.

    Returns:
        (To, Tk) float32, To = len(tgt_words), Tk = len(src_words); rows sum to 1 or 0.
    """
    out = torch.zeros(len(tgt_words), len(src_words))
    if not links:
        return out
    n_src, n_tgt = max(src_words, default=-1) + 1, max(tgt_words, default=-1) + 1
    word = torch.zeros(n_tgt, n_src)
    for i, j in links:
        if i < n_src and j < n_tgt:
            word[j, i] = 1.0
    out = word[torch.as_tensor(list(tgt_words))][:, torch.as_tensor(list(src_words))]  # (To, Tk)
    total = out.sum(1, keepdim=True)
    return torch.where(total > 0, out / total.clamp_min(1.0), out)


@dataclass(frozen=True)
class AlignmentChoice:
    """Which attention becomes links, and how: chosen on the dev gold (:func:`sweep_choices`).

    Attributes:
        layer: decoder layer (negative: from the end; RNNs have one, 0 = -1).
        head: head index or ``"mean"`` (the layer mean; single-head models ignore it).
        method: one of :data:`LINK_METHODS`.
        threshold: weight in [0, 1] for ``threshold``.
        source_pool: one of :data:`POOLINGS`.
    """

    layer: int = -1
    head: str | int = "mean"
    method: str = "argmax"
    threshold: float = 0.5
    source_pool: str = "sum"

    def __post_init__(self) -> None:
        if self.method not in LINK_METHODS:
            raise ValueError(f"unknown link method {self.method!r}; choose one of: {', '.join(LINK_METHODS)}")
        if self.source_pool not in POOLINGS:
            raise ValueError(f"source_pool must be one of {', '.join(POOLINGS)}, got {self.source_pool!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        head_index = isinstance(self.head, int) and not isinstance(self.head, bool) and self.head >= 0
        if not (self.head == "mean" or head_index):
            raise ValueError(f"head must be 'mean' or a head index >= 0, got {self.head!r}")

    def label(self) -> str:
        how = self.method if self.method == "argmax" else f"threshold {self.threshold:g}"
        return f"layer {self.layer}, head {self.head}, {how}, source pieces {self.source_pool}"

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AlignmentChoice":
        """Raises ValueError for unknown keys or invalid values."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown alignment option {sorted(unknown)[0]!r}")
        return cls(**data)


def choice_links(
    weights: Tensor,
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    choice: AlignmentChoice,
    *,
    n_src_words: int | None = None,
    n_tgt_words: int | None = None,
) -> set[tuple[int, int]]:
    """Word links (source word, target word) of one forced pass's weights (L, Nh, To, Tk) by `choice`.

    Raises:
        ValueError: if the pieces do not make the given numbers of words, or the layer or head
            does not exist.
    """
    if not -weights.shape[0] <= choice.layer < weights.shape[0]:
        raise ValueError(f"layer {choice.layer} does not exist: the model has {weights.shape[0]} decoder layer(s)")
    chosen = select_heads(weights[choice.layer], choice.head)  # (To, Tk)
    pooled = word_weights(
        chosen,
        piece_words(src_tokens, n_src_words),
        piece_words(tgt_tokens, n_tgt_words),
        source_pool=choice.source_pool,
    )
    return links_from_weights(pooled, choice.method, choice.threshold)


SWEEP_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def sweep_choices(
    forced: Sequence,
    gold: Sequence[set[tuple[int, int]]],
    words: Sequence[tuple[int, int]],
    *,
    thresholds: Sequence[float] = SWEEP_THRESHOLDS,
) -> list[tuple[AlignmentChoice, AlignmentScore]]:
    """AER of every layer x (each head, the layer mean) x source pooling x (argmax, thresholds).

    Args:
        forced: per sentence, an object with ``weights`` (L, Nh, To, Tk), ``src_tokens``, ``tgt_tokens``
            (:class:`attnkit.decoding.forced.ForcedAttention`).
        gold: gold links per sentence.
        words: (source words, target words) per sentence.
        thresholds: thresholds tried for the ``threshold`` method.

    Returns:
        (choice, :class:`~attnkit.evaluation.alignment.AlignmentScore`) pairs, best (lowest AER) first.
    """
    n_layers, n_heads = forced[0].weights.shape[:2]
    heads: list[str | int] = ["mean"] + (list(range(n_heads)) if n_heads > 1 else [])
    results: list[tuple[AlignmentChoice, AlignmentScore]] = []
    for layer in range(n_layers):
        for head in heads:
            for pool in POOLINGS:
                pooled = [
                    word_weights(
                        select_heads(f.weights[layer], head),
                        piece_words(f.src_tokens, ns),
                        piece_words(f.tgt_tokens, nt),
                        source_pool=pool,
                    )
                    for f, (ns, nt) in zip(forced, words)
                ]
                for method, threshold in [("argmax", 0.5)] + [("threshold", t) for t in thresholds]:
                    links = [links_from_weights(p, method, threshold) for p in pooled]
                    choice = AlignmentChoice(layer - n_layers, head, method, threshold, pool)
                    results.append((choice, alignment_error_rate(links, gold)))
    return sorted(results, key=lambda r: r[1].aer)
