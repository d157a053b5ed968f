"""Caption metrics: BLEU-n against n-gram precisions counted by hand, words kept whole; attention
in a box against the maps spread over pixels here; chance levels by enumerating cells."""

from __future__ import annotations

import numpy as np
import pytest

from attnkit.evaluation import attention_in_box, box_chance, caption_scores


def test_bleu_n_and_exact_match_by_hand():
    s = caption_scores(["a b c d", "e f"], ["a b x d", "e f"])
    # unigrams 5 of 6 match; bigrams: (ab, bc, cd) vs (ab, bx, xd): 1 of 3, plus (ef): 2 of 4; equal lengths, BP = 1
    assert s["bleu_1"] == pytest.approx(100 * 5 / 6)
    assert s["bleu_2"] == pytest.approx(100 * (5 / 6 * 2 / 4) ** 0.5)
    assert s["exact_match"] == 0.5 and "tok:none" in s["bleu_signature"]
    same = caption_scores(["a small t-shirt left of a bag"], ["a small t-shirt left of a bag"])
    assert all(same[f"bleu_{n}"] == pytest.approx(100.0) for n in range(1, 5)) and same["exact_match"] == 1.0
    assert caption_scores(["a t-shirt"], ["a shirt"])["bleu_1"] == pytest.approx(50.0)  # "t-shirt" is one word
    with pytest.raises(ValueError, match="equally many"):
        caption_scores(["a"], [])


def _pixels(w, size):
    """Each cell's weight spread evenly over its pixels: (T, H, W)."""
    t, h, wd = w.shape
    return np.stack([np.kron(m, np.ones((size[0] // h, size[1] // wd))) / (size[0] // h * size[1] // wd) for m in w])


def test_attention_in_box_against_the_maps_spread_over_pixels():
    rng = np.random.default_rng(0)
    w = rng.random((5, 7, 7))
    w /= w.sum(axis=(1, 2), keepdims=True)
    for box in [(0, 0, 84, 84), (13, 5, 40, 31), (70, 70, 84, 84), (30, 30, 31, 31)]:
        x0, y0, x1, y1 = box
        inside, mass = attention_in_box(w, box, (84, 84))
        np.testing.assert_allclose(mass, _pixels(w, (84, 84))[:, y0:y1, x0:x1].sum(axis=(1, 2)))
        for t in range(5):
            r, c = np.unravel_index(w[t].argmax(), (7, 7))
            assert inside[t] == (x0 <= 12 * c + 6 < x1 and y0 <= 12 * r + 6 < y1)
    one_hot = np.zeros((1, 7, 7))
    one_hot[0, 2, 3] = 1.0  # the cell of rows 24-35 and columns 36-47, centre (42, 30)
    assert attention_in_box(one_hot, (36, 24, 48, 36), (84, 84))[0].tolist() == [True]
    assert attention_in_box(one_hot, (43, 0, 84, 84), (84, 84))[0].tolist() == [False]
    with pytest.raises(ValueError, match="maps"):
        attention_in_box(w[0], (0, 0, 1, 1), (84, 84))


def test_chance_levels_by_enumerating_cells():
    box = (13, 5, 40, 31)
    centres = [(12 * c + 6, 12 * r + 6) for r in range(7) for c in range(7)]
    share = sum(13 <= x < 40 and 5 <= y < 31 for x, y in centres) / 49
    assert box_chance(box, (7, 7), (84, 84)) == pytest.approx((share, 27 * 26 / 84**2))
    uniform = np.full((1, 7, 7), 1 / 49)
    assert attention_in_box(uniform, box, (84, 84))[1][0] == pytest.approx(box_chance(box, (7, 7), (84, 84))[1])
