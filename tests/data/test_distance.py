"""The distance task's generator: the value token sits exactly d positions before the query that ends
the sequence, the class is (value + shift) mod C, distances come in equal shares, and the same seed
gives the same sequences."""

from __future__ import annotations

from collections import Counter

import pytest

from attnkit.data.distance import digest, generate


def _draw(seed=7, n=200, distances=(1, 3, 10, 30)):
    return generate(n, distances=distances, length=31, n_classes=5, noise_tokens=6, seed=seed)


def test_the_value_is_exactly_d_tokens_before_the_query_and_decides_the_class_with_it():
    for ex in _draw():
        t = len(ex.tokens)
        assert t == 31 and ex.tokens[-1].startswith("q")
        values = [i for i, tok in enumerate(ex.tokens) if tok.startswith("v")]
        assert values == [t - 1 - ex.distance]  # one value, at distance d from the query
        assert all(tok.startswith("n") for i, tok in enumerate(ex.tokens[:-1]) if i != values[0])
        a, s = int(ex.tokens[values[0]][1:]), int(ex.tokens[-1][1:])
        assert ex.label == (a + s) % 5


def test_distances_come_in_equal_shares_and_values_and_shifts_vary():
    draw = _draw(n=202)
    counts = Counter(ex.distance for ex in draw)
    assert counts == {1: 51, 3: 51, 10: 50, 30: 50}  # 202 = 4 x 50 + 2: the first two get one more
    assert len({ex.label for ex in draw}) == 5 and len({ex.tokens[-1] for ex in draw}) == 5


def test_the_same_seed_gives_the_same_sequences_another_seed_others():
    assert _draw(seed=7) == _draw(seed=7)
    assert digest(_draw(seed=7)) == digest(_draw(seed=7)) != digest(_draw(seed=8))


def test_a_distance_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match=r"every distance must lie in \[1, length - 1\] = \[1, 30\]"):
        generate(4, distances=(31,), length=31, n_classes=5, noise_tokens=6, seed=0)
    with pytest.raises(ValueError, match="every distance"):
        generate(4, distances=(0,), length=31, n_classes=5, noise_tokens=6, seed=0)
