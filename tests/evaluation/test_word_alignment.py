"""Subword attention pooled into word links, against loops written in the test."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.evaluation.word_alignment import (
    AlignmentChoice,
    choice_links,
    links_from_weights,
    piece_link_matrix,
    piece_words,
    sweep_choices,
    word_weights,
)


def test_piece_words_from_the_word_mark():
    assert piece_words(["▁τὸν", "▁Ἀβ", "ιά", "▁", "κ"]) == [0, 1, 1, 2, 2]
    assert piece_words(["a", "b", "c"]) == [0, 1, 2]  # no mark: one word per token
    with pytest.raises(ValueError, match="make 2 words but the text has 3"):
        piece_words(["▁a", "▁b", "c"], n_words=3)
    with pytest.raises(ValueError, match="before the first word mark"):
        piece_words(["x", "▁a"])


@settings(max_examples=40, deadline=None)
@given(
    src=st.lists(st.integers(1, 3), min_size=1, max_size=5),
    tgt=st.lists(st.integers(1, 3), min_size=1, max_size=5),
    pool=st.sampled_from(["sum", "mean"]),
    seed=st.integers(0, 1000),
)
def test_word_weights_match_a_loop(src, tgt, pool, seed):
    src_words = [w for w, n in enumerate(src) for _ in range(n)]  # word w has src[w] pieces
    tgt_words = [w for w, n in enumerate(tgt) for _ in range(n)]
    g = torch.Generator().manual_seed(seed)
    weights = torch.rand(len(tgt_words), len(src_words), generator=g, dtype=torch.float64).softmax(-1)
    ours = word_weights(weights, src_words, tgt_words, source_pool=pool)
    expected = torch.zeros(len(tgt), len(src), dtype=torch.float64)
    for j in range(len(tgt)):
        rows = [t for t in range(len(tgt_words)) if tgt_words[t] == j]
        for i in range(len(src)):
            cols = [k for k in range(len(src_words)) if src_words[k] == i]
            per_row = [sum(weights[t, k] for k in cols) / (len(cols) if pool == "mean" else 1) for t in rows]
            expected[j, i] = sum(per_row) / len(rows)
    torch.testing.assert_close(ours, expected)
    if pool == "sum":  # rows stay distributions
        torch.testing.assert_close(ours.sum(-1), torch.ones(len(tgt), dtype=torch.float64))


def test_links_by_argmax_and_threshold():
    w = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.45, 0.45], [0.05, 0.05, 0.9]])  # (J=3 target, I=3 source)
    assert links_from_weights(w, "argmax") == {(0, 0), (1, 1), (2, 2)}  # ties: the first
    assert links_from_weights(w, "threshold", 0.4) == {(0, 0), (1, 1), (2, 1), (2, 2)}
    assert links_from_weights(w, "threshold", 0.95) == set()
    with pytest.raises(ValueError, match="unknown link method"):
        links_from_weights(w, "max")


def test_piece_link_matrix_spreads_and_normalises_rows():
    # source words: 0 = pieces 0,1; 1 = piece 2. target words: 0 = piece 0; 1 = pieces 1,2; 2 = piece 3.
    g = piece_link_matrix({(0, 0), (1, 0), (1, 1)}, [0, 0, 1], [0, 1, 1, 2])
    expected = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0, 0, 1], [0, 0, 1], [0, 0, 0]])
    torch.testing.assert_close(g, expected)


def test_choice_links_reads_the_chosen_layer_and_head():
    w = torch.zeros(2, 2, 2, 2)  # (L, Nh, To, Tk)
    w[0, :, 0, 0] = w[0, :, 1, 1] = 1.0  # layer 0: diagonal in both heads
    w[1, 0, :, 0] = 1.0  # layer 1 head 0: everything to source 0
    w[1, 1, :, 1] = 1.0  # layer 1 head 1: everything to source 1
    pieces = ["▁a", "▁b"]
    assert choice_links(w, pieces, pieces, AlignmentChoice(layer=0)) == {(0, 0), (1, 1)}
    assert choice_links(w, pieces, pieces, AlignmentChoice(layer=-1, head=0)) == {(0, 0), (0, 1)}
    assert choice_links(w, pieces, pieces, AlignmentChoice(layer=1, head=1)) == {(1, 0), (1, 1)}
    assert choice_links(
        w, pieces, pieces, AlignmentChoice(layer=1, head="mean", method="threshold", threshold=0.5)
    ) == {(0, 0), (1, 0), (0, 1), (1, 1)}
    with pytest.raises(ValueError, match="layer 2 does not exist"):
        choice_links(w, pieces, pieces, AlignmentChoice(layer=2))
    with pytest.raises(ValueError, match="threshold must be in"):
        AlignmentChoice(threshold=2.0)


class _Forced:
    def __init__(self, weights):
        self.weights, self.src_tokens, self.tgt_tokens = weights, ["▁a", "▁b"], ["▁x", "▁y"]


def test_sweep_finds_the_head_that_matches_the_gold():
    w = torch.full((2, 2, 2, 2), 0.5)  # (L, Nh, To, Tk): uniform everywhere ...
    w[0, 0] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # ... but layer 0 head 0 is the diagonal
    w[0, 1] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # ... and head 1 the anti-diagonal (their mean: uniform)
    gold = [{(1, 0), (0, 1)}]
    results = sweep_choices([_Forced(w)], gold, [(2, 2)])
    best, score = results[0]
    assert (best.layer, best.head, score.aer) == (-2, 1, 0.0)
    assert all(a[1].aer <= b[1].aer for a, b in zip(results, results[1:]))
