"""The masking rule of masked-language-model pretraining [Devlin19] Sec. 3.1, Task #1.

Of the tokens that may be masked (real words, not padding or other special ids), each is selected
with probability ``select`` (15 %); each selected token is replaced by ``<mask>`` with probability
``replace_mask`` (80 %), by a uniformly drawn ordinary word with probability ``replace_random``
(10 %) and left unchanged otherwise (10 %). The model is trained to give the original token at
every selected position, and only there.

Whole-word masking (the option of the BERT repository's 2019 release, and of Hugging Face's
``DataCollatorForWholeWordMask``) draws the selection per *word* instead of per token: tokens that
share a word id (the subwords of one word) are selected together; the 80/10/10 choice is still
made per token, as in both reference implementations.

Randomness is reproducible per example: :func:`example_rng` gives the generator of one
(seed, epoch, example) triple (NumPy's ``SeedSequence`` mixes the three numbers), so the same
example in the same epoch is masked the same way whatever the batch it lands in, the number of
ranks, or whether the run was resumed.

References:
    [Devlin19] J. Devlin, M.-W. Chang, K. Lee, K. Toutanova. BERT: Pre-training of Deep
    Bidirectional Transformers for Language Understanding. NAACL 2019. arXiv:1810.04805.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError

__all__ = [
    "MaskingRule",
    "Masked",
    "NOT_SELECTED",
    "TO_MASK",
    "TO_RANDOM",
    "UNCHANGED",
    "example_rng",
    "mask_tokens",
    "mask_batch",
]

#: What happened to each position (:attr:`Masked.action`).
NOT_SELECTED, TO_MASK, TO_RANDOM, UNCHANGED = 0, 1, 2, 3


@dataclass(frozen=True)
class MaskingRule:
    """The proportions of the masking rule ([Devlin19] Sec. 3.1; Appendix A.1).

    Attributes:
        select: probability in (0, 1) that a maskable token (a word, with `whole_word`) is selected.
        replace_mask: probability in [0, 1] that a selected token becomes ``<mask>``.
        replace_random: probability in [0, 1] that it becomes a random ordinary word;
            ``replace_mask + replace_random <= 1``, the rest stays unchanged.
        whole_word: select whole words (groups of tokens sharing a word id) rather than tokens.
    """

    select: float = 0.15
    replace_mask: float = 0.8
    replace_random: float = 0.1
    whole_word: bool = False

    def check(self, section: str = "data") -> None:
        """Raises ConfigError naming the first proportion out of range."""
        if not 0.0 < self.select < 1.0:
            raise ConfigError(f"{section}.select must lie in (0, 1) (BERT: 0.15), got {self.select}")
        for name in ("replace_mask", "replace_random"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{section}.{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.replace_mask + self.replace_random > 1.0:
            raise ConfigError(
                f"{section}.replace_mask + {section}.replace_random must be <= 1 (BERT: 0.8 + 0.1), "
                f"got {self.replace_mask} + {self.replace_random}"
            )


class Masked(NamedTuple):
    """One masked sequence (or a batch of them, each array with a leading B).

    Attributes:
        ids: (T,) the input ids after masking.
        action: (T,) int8, per position: :data:`NOT_SELECTED`, :data:`TO_MASK`, :data:`TO_RANDOM`
            or :data:`UNCHANGED` (the last three are the selected positions, the loss's targets).
    """

    ids: np.ndarray
    action: np.ndarray

    @property
    def selected(self) -> np.ndarray:
        """(T,) bool: the positions whose original token is predicted."""
        return self.action != NOT_SELECTED


def example_rng(seed: int, epoch: int, example: int) -> np.random.Generator:
    """The generator that masks `example` (its index in its split) in `epoch` of a run seeded `seed`.

    Raises:
        ValueError: for a negative number (NumPy's ``SeedSequence`` takes non-negative entropy).
    """
    return np.random.default_rng([seed, epoch, example])


def mask_tokens(
    ids: Sequence[int] | np.ndarray,
    rule: MaskingRule,
    rng: np.random.Generator,
    *,
    mask_id: int,
    random_ids: tuple[int, int],
    maskable: Sequence[bool] | np.ndarray | None = None,
    word_ids: Sequence[int] | np.ndarray | None = None,
) -> Masked:
    """Apply the masking rule to one sequence of token ids.

    Args:
        ids: (T,) token ids.
        rule: the proportions (and whether whole words are selected).
        rng: the example's generator (:func:`example_rng`).
        mask_id: the id of ``<mask>``.
        random_ids: [low, high): the ids a random replacement is drawn from (the ordinary words).
        maskable: (T,) True where a token may be selected; default: every position. Padding and
            special tokens should be False.
        word_ids: (T,) the word each token belongs to (equal ids = one word, e.g. the subwords
            of a word); used with ``rule.whole_word``. Default: every token is its own word.

    Returns:
        The masked ids and each position's :data:`action`.

    Raises:
        ValueError: if the arrays disagree in length or ``random_ids`` is empty.
    """
    ids = np.asarray(ids, dtype=np.int64)
    t = len(ids)
    can = np.ones(t, dtype=bool) if maskable is None else np.asarray(maskable, dtype=bool)
    words = np.arange(t) if word_ids is None or not rule.whole_word else np.asarray(word_ids)
    if len(can) != t or len(words) != t:
        raise ValueError(f"ids, maskable and word_ids must have the same length, got {t}, {len(can)}, {len(words)}")
    low, high = random_ids
    if high <= low:
        raise ValueError(f"random_ids must be a non-empty range [low, high), got {random_ids}")
    # one draw per word group (per token without whole_word), groups in order of their ids
    unique, group = np.unique(words, return_inverse=True)
    picked = rng.random(len(unique)) < rule.select  # Sec. 3.1: 15 % of the units
    selected = picked[group] & can
    u = rng.random(t)  # per token, as in both reference implementations
    action = np.where(
        selected,
        np.where(
            u < rule.replace_mask, TO_MASK, np.where(u < rule.replace_mask + rule.replace_random, TO_RANDOM, UNCHANGED)
        ),
        NOT_SELECTED,
    ).astype(np.int8)
    out = ids.copy()
    out[action == TO_MASK] = mask_id
    n_random = int((action == TO_RANDOM).sum())
    out[action == TO_RANDOM] = rng.integers(low, high, size=n_random)
    return Masked(out, action)


def mask_batch(
    words: Tensor,
    mask: Tensor,
    rule: MaskingRule,
    *,
    seed: int,
    epoch: int,
    examples: Sequence[int],
    mask_id: int,
    random_ids: tuple[int, int],
    protected: Sequence[int] = (),
) -> tuple[Tensor, Tensor]:
    """Mask a padded batch of word ids, each row with its own example's generator.

    Args:
        words: (B, T) int64 word ids.
        mask: (B, T) bool, True = a real word (may be selected); the real words of a row come first.
        rule: the proportions.
        seed, epoch: of the run and the pass over the data (dev uses a fixed epoch).
        examples: B example indices (their positions in their split).
        mask_id: the id of ``<mask>``.
        random_ids: [low, high) of the random replacements.
        protected: ids never selected (e.g. ``<unk>``: an unknown word is no target).

    Returns:
        (inputs (B, T) int64, action (B, T) int8), on the device of `words`; each row exactly as
        :func:`mask_tokens` masks the example's real words alone, so padding changes nothing.
    """
    ids = words.cpu().numpy()
    real = mask.cpu().numpy()
    maskable = real & ~np.isin(ids, np.asarray(list(protected), dtype=np.int64))
    out, act = ids.copy(), np.zeros(ids.shape, dtype=np.int8)
    for b, example in enumerate(examples):
        n = int(real[b].sum())  # the real words come first: mask the row as it is alone
        m = mask_tokens(
            ids[b, :n],
            rule,
            example_rng(seed, epoch, int(example)),
            mask_id=mask_id,
            random_ids=random_ids,
            maskable=maskable[b, :n],
        )
        out[b, :n], act[b, :n] = m.ids, m.action
    return torch.from_numpy(out).to(words.device), torch.from_numpy(act).to(words.device)
