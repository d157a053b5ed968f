"""Token batches: each example once, budget kept, pure in (seed, epoch), shards disjoint and even."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.data import TokenBatchSampler, padding_share, split_batch


@st.composite
def corpora(draw):
    """(src_lengths, tgt_lengths, max_tokens) with some examples over the budget."""
    n = draw(st.integers(0, 60))
    src = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    tgt = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    return src, tgt, draw(st.integers(1, 120))


def _cost(batch, src, tgt):
    return len(batch) * max(max(src[i], tgt[i]) for i in batch)


@settings(max_examples=60, deadline=None)
@given(corpora(), st.integers(0, 2**32), st.integers(0, 5), st.integers(1, 8), st.booleans())
def test_each_example_once_and_budget_kept(corpus, seed, epoch, bucket_width, shuffle):
    src, tgt, max_tokens = corpus
    sampler = TokenBatchSampler(src, tgt, max_tokens=max_tokens, seed=seed, shuffle=shuffle, bucket_width=bucket_width)
    batches = sampler.batches(epoch)
    assert sorted(i for b in batches for i in b) == list(range(len(src)))
    assert all(b for b in batches)
    for b in batches:
        assert _cost(b, src, tgt) <= max_tokens or len(b) == 1
    assert sampler.batches(epoch) == batches  # pure in (seed, epoch)
    assert (
        TokenBatchSampler(
            src, tgt, max_tokens=max_tokens, seed=seed, shuffle=shuffle, bucket_width=bucket_width
        ).batches(epoch)
        == batches
    )


def test_single_long_example_gets_its_own_batch():
    sampler = TokenBatchSampler([3, 50, 3, 3], [3, 2, 3, 3], max_tokens=10, seed=0, shuffle=False)
    assert sampler.batches(0) == [[0, 2, 3], [1]]


def test_epochs_and_seeds_differ_but_shuffle_false_is_fixed():
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 50, 500), rng.integers(1, 50, 500)
    sampler = TokenBatchSampler(src, tgt, max_tokens=400, seed=7)
    assert sampler.batches(0) != sampler.batches(1)
    assert sampler.batches(0) != TokenBatchSampler(src, tgt, max_tokens=400, seed=8).batches(0)
    fixed = TokenBatchSampler(src, tgt, max_tokens=400, seed=7, shuffle=False)
    assert fixed.batches(0) == fixed.batches(3)
    order = [i for b in fixed.batches(0) for i in b]
    longest = np.maximum(src, tgt)[order]
    assert (np.diff(longest) >= 0).all()  # sorted by length, batches in order


@settings(max_examples=60, deadline=None)
@given(corpora(), st.integers(0, 1000), st.integers(1, 5), st.booleans())
def test_shards_are_disjoint_even_and_follow_the_global_list(corpus, seed, num_shards, drop_last):
    src, tgt, max_tokens = corpus
    kwargs = dict(max_tokens=max_tokens, seed=seed, num_shards=num_shards, drop_last=drop_last)
    shards = [TokenBatchSampler(src, tgt, shard=r, **kwargs).batches(2) for r in range(num_shards)]
    global_batches = TokenBatchSampler(src, tgt, max_tokens=max_tokens, seed=seed).batches(2)
    n_global = len(global_batches)
    assert len({len(s) for s in shards}) == 1  # every shard the same number of steps
    steps = len(shards[0])
    if drop_last:
        assert steps == n_global // num_shards
        seen = [i for s in shards for b in s for i in b]
        assert len(seen) == len(set(seen))  # disjoint
    else:
        assert steps == -(-n_global // num_shards)
        covered = {i for s in shards for b in s for i in b}
        assert covered == set(range(len(src)))  # cover
    for step in range(steps):  # step i of shard r is global batch i*N + r
        for r in range(num_shards):
            g = step * num_shards + r
            assert shards[r][step] == global_batches[g % n_global]
            if drop_last or g < n_global:
                assert shards[r][step] == global_batches[g]


def test_shards_pad_with_the_first_batches():
    sampler = TokenBatchSampler([5] * 5, [5] * 5, max_tokens=5, seed=3)  # 5 one-example batches
    global_batches = sampler.global_batches(0)
    shards = [
        TokenBatchSampler([5] * 5, [5] * 5, max_tokens=5, seed=3, num_shards=3, shard=r).batches(0) for r in range(3)
    ]
    assert shards == [
        [global_batches[0], global_batches[3]],
        [global_batches[1], global_batches[4]],
        [global_batches[2], global_batches[0]],
    ]
    dropped = [
        TokenBatchSampler([5] * 5, [5] * 5, max_tokens=5, seed=3, num_shards=3, shard=r, drop_last=True).batches(0)
        for r in range(3)
    ]
    assert dropped == [[global_batches[0]], [global_batches[1]], [global_batches[2]]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=40, unique=True), st.integers(1, 9))
def test_split_batch_covers_the_batch(batch, num_shards):
    parts = [split_batch(batch, num_shards, r) for r in range(num_shards)]
    assert sorted(i for p in parts for i in p) == sorted(batch)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_bucketing_cuts_padding_on_skewed_lengths():
    rng = np.random.default_rng(1)
    src = np.minimum(rng.lognormal(2.5, 0.8, 3000).astype(int) + 1, 200)  # many short, a long tail
    tgt = np.maximum(1, (src * rng.uniform(0.8, 1.25, src.size)).astype(int))
    bucketed = TokenBatchSampler(src, tgt, max_tokens=1000, seed=0).batches(0)
    random_ = TokenBatchSampler(src, tgt, max_tokens=1000, seed=0, bucket_width=10**6).batches(0)  # one bucket
    share, random_share = padding_share(bucketed, src, tgt), padding_share(random_, src, tgt)
    assert share < random_share / 2
    assert share < 0.2 and random_share > 0.4
    assert len(bucketed) < len(random_)  # less padding, so fewer batches for the same data


def test_padding_share_by_hand():
    assert padding_share([[0, 1], [2]], [2, 4, 3], [1, 1, 5]) == pytest.approx((2 + 0 + 0 + 0) / (8 + 2 + 3 + 5))
    assert padding_share([], [], []) == 0.0


def test_errors():
    with pytest.raises(ValueError, match="src_lengths has 2 entries but tgt_lengths has 1"):
        TokenBatchSampler([1, 2], [1], max_tokens=10, seed=0)
    with pytest.raises(ValueError, match="non-negative integer lengths"):
        TokenBatchSampler([1, -2], [1, 2], max_tokens=10, seed=0)
    with pytest.raises(ValueError, match="max_tokens must be an integer >= 1"):
        TokenBatchSampler([1], [1], max_tokens=0, seed=0)
    with pytest.raises(ValueError, match=r"shard must be in \[0, 2\)"):
        TokenBatchSampler([1], [1], max_tokens=5, seed=0, num_shards=2, shard=2)
    with pytest.raises(ValueError, match="epoch"):
        TokenBatchSampler([1], [1], max_tokens=5, seed=0).batches(-1)
    with pytest.raises(ValueError, match="num_shards"):
        split_batch([1, 2], 0, 0)
