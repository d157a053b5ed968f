"""The masking rule of [Devlin19] Sec. 3.1, measured on large samples against the paper's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnkit.data.masking import (
    NOT_SELECTED,
    TO_MASK,
    TO_RANDOM,
    UNCHANGED,
    MaskingRule,
    example_rng,
    mask_batch,
    mask_tokens,
)
from attnkit.errors import ConfigError

MASK, LOW, HIGH = 2, 3, 1003  # <mask> id; random replacements drawn from [3, 1003)


def _within(count: int, n: int, p: float, k: float = 4.5) -> None:
    """`count` successes of `n` are within k binomial standard deviations of n * p."""
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= k * sd, f"{count} of {n}: expected {n * p:.0f} +- {k * sd:.0f}"


def _sample(rule: MaskingRule, n_examples: int = 4000, length: int = 50):
    rng = np.random.default_rng(0)
    originals, inputs, actions = [], [], []
    for example in range(n_examples):
        ids = rng.integers(LOW, HIGH, size=length)
        m = mask_tokens(ids, rule, example_rng(7, 0, example), mask_id=MASK, random_ids=(LOW, HIGH))
        originals.append(ids)
        inputs.append(m.ids)
        actions.append(m.action)
    return np.concatenate(originals), np.concatenate(inputs), np.concatenate(actions)


def test_proportions_15_and_80_10_10():
    originals, inputs, actions = _sample(MaskingRule())
    n = len(originals)  # 200,000 tokens
    selected = actions != NOT_SELECTED
    _within(int(selected.sum()), n, 0.15)
    n_sel = int(selected.sum())
    _within(int((inputs[selected] == MASK).sum()), n_sel, 0.8)
    replaced = selected & (inputs != MASK) & (inputs != originals)
    # a random replacement equals the original with probability 1 / (HIGH - LOW)
    _within(int(replaced.sum()), n_sel, 0.1 * (1 - 1 / (HIGH - LOW)))
    # the unchanged share among the selected: 10 % kept plus the random draws that hit the original
    _within(int((inputs[selected] == originals[selected]).sum()), n_sel, 0.1 + 0.1 / (HIGH - LOW))
    # nothing outside the selection changes; the actions agree with what the ids show
    assert np.array_equal(inputs[~selected], originals[~selected])
    assert np.array_equal(inputs == MASK, actions == TO_MASK)
    assert np.all((inputs[actions == TO_RANDOM] >= LOW) & (inputs[actions == TO_RANDOM] < HIGH))
    assert np.array_equal(inputs[actions == UNCHANGED], originals[actions == UNCHANGED])


def test_random_replacements_are_uniform_over_the_ordinary_words():
    rule = MaskingRule(select=0.5, replace_mask=0.0, replace_random=1.0)
    counts = np.zeros(10, dtype=np.int64)
    for example in range(3000):
        m = mask_tokens(np.full(40, 5), rule, example_rng(1, 0, example), mask_id=MASK, random_ids=(10, 20))
        counts += np.bincount(m.ids[m.action == TO_RANDOM] - 10, minlength=10)
    for c in counts:
        _within(int(c), int(counts.sum()), 0.1)


def test_unmaskable_positions_are_never_selected():
    ids = np.arange(LOW, LOW + 30)
    maskable = np.arange(30) % 3 != 0
    for example in range(500):
        m = mask_tokens(
            ids, MaskingRule(), example_rng(3, 1, example), mask_id=MASK, random_ids=(LOW, HIGH), maskable=maskable
        )
        assert not m.selected[~maskable].any()


def test_whole_word_selects_all_tokens_of_a_word_together():
    rng = np.random.default_rng(1)
    n_words = n_picked = 0
    for example in range(2000):
        sizes = rng.integers(1, 5, size=12)  # 12 words of 1-4 subword tokens
        word_ids = np.repeat(np.arange(12), sizes)
        ids = rng.integers(LOW, HIGH, size=len(word_ids))
        m = mask_tokens(
            ids,
            MaskingRule(whole_word=True),
            example_rng(5, 0, example),
            mask_id=MASK,
            random_ids=(LOW, HIGH),
            word_ids=word_ids,
        )
        for w in range(12):
            sel = m.selected[word_ids == w]
            assert sel.all() or not sel.any(), f"word {w} partly selected: {sel}"
            n_picked += int(sel.all())
        n_words += 12
    _within(n_picked, n_words, 0.15)  # 15 % of the words, whatever their number of tokens


def test_without_whole_word_the_subwords_are_drawn_one_by_one():
    word_ids = np.repeat(np.arange(10), 4)
    partly = 0
    for example in range(300):
        m = mask_tokens(
            np.full(40, 9),
            MaskingRule(),
            example_rng(5, 0, example),
            mask_id=MASK,
            random_ids=(LOW, HIGH),
            word_ids=word_ids,
        )
        sel = m.selected.reshape(10, 4)
        partly += int((sel.any(1) & ~sel.all(1)).sum())
    assert partly > 0


def test_deterministic_per_seed_epoch_and_example():
    ids = np.arange(LOW, LOW + 200)

    def run(seed, epoch, example):
        return mask_tokens(ids, MaskingRule(), example_rng(seed, epoch, example), mask_id=MASK, random_ids=(LOW, HIGH))

    a, b = run(1, 2, 3), run(1, 2, 3)
    assert np.array_equal(a.ids, b.ids) and np.array_equal(a.action, b.action)
    for other in (run(2, 2, 3), run(1, 3, 3), run(1, 2, 4)):
        assert not np.array_equal(a.action, other.action)


def test_batch_masks_each_row_as_its_example_alone():
    g = torch.Generator().manual_seed(0)
    words = torch.randint(LOW, HIGH, (3, 20), generator=g)
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[1, 12:] = False  # a shorter row, padded
    words[1, 12:] = 0
    words[2, 4] = 1  # an <unk>: protected
    inputs, action = mask_batch(
        words,
        mask,
        MaskingRule(select=0.5),
        seed=4,
        epoch=1,
        examples=[10, 11, 12],
        mask_id=MASK,
        random_ids=(LOW, HIGH),
        protected=(1,),
    )
    for b, example in enumerate([10, 11, 12]):
        n = int(mask[b].sum())
        maskable = (words[b, :n] != 1).numpy()
        alone = mask_tokens(
            words[b, :n].numpy(),
            MaskingRule(select=0.5),
            example_rng(4, 1, example),
            mask_id=MASK,
            random_ids=(LOW, HIGH),
            maskable=maskable,
        )
        # the padded row is masked exactly as the example alone; padding is never selected
        assert np.array_equal(action[b, :n].numpy(), alone.action)
        assert np.array_equal(inputs[b, :n].numpy(), alone.ids)
    assert not action[1, 12:].any() and action[2, 4] == NOT_SELECTED


@pytest.mark.parametrize(
    "kwargs", [{"select": 0.0}, {"select": 1.0}, {"replace_mask": 1.2}, {"replace_mask": 0.8, "replace_random": 0.3}]
)
def test_bad_rules_are_one_line_config_errors(kwargs):
    with pytest.raises(ConfigError) as err:
        MaskingRule(**kwargs).check()
    assert "\n" not in str(err.value)
