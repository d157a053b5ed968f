"""A synthetic long-range dependency: two tokens d positions apart decide the class.

Every sequence has the same length T (``length``). Its last token is a *query* ``q<s>``, one of C
query tokens (shift s in [0, C)); exactly ``d`` positions before it, at position T - 1 - d, stands
a *value* ``v<a>``, one of C value tokens (a in [0, C)); every other position holds a *distractor*
``n<k>``, one of N noise tokens drawn uniformly. The class is (a + s) mod C: neither token alone
says anything about it (for a fixed a, every class is equally likely over s, and the other way
round), so a model must bring the two together across the distance d; distractors never look like
either. The distance d of each example is one of ``distances``, in equal shares (the first ones get
one more when the count does not divide), shuffled; a and s are uniform and independent.

For a recurrent network, d is the number of steps the value must be carried to meet the query (a
left-to-right pass); for self-attention it is one step of any length, unless a window shorter than
d keeps the query from seeing the value (a layer of sliding-window attention of half-width w
relates positions at most w apart). The task is in the spirit of the copy and "adding problem"
tasks of [Hochreiter97] Sec. 5 and of Long Range Arena's retrieval [Tay21], with the distance
itself controlled.

Generation is deterministic: one ``numpy.random.default_rng(seed)`` per split.

References:
    [Hochreiter97] S. Hochreiter, J. Schmidhuber. Long Short-Term Memory. Neural Computation 9(8),
    1997.
    [Tay21] Y. Tay et al. Long Range Arena: A Benchmark for Efficient Transformers. ICLR 2021.
    arXiv:2011.04006.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["DistanceExample", "generate", "token_names", "value_token", "query_token", "noise_token", "digest"]


@dataclass(frozen=True)
class DistanceExample:
    """One sequence: its tokens (T strings), its class (a + s) mod C, and the distance d between
    the value and the query (the value is ``tokens[-1 - d]``, the query ``tokens[-1]``)."""

    tokens: tuple[str, ...]
    label: int
    distance: int


def value_token(a: int) -> str:
    return f"v{a}"


def query_token(s: int) -> str:
    return f"q{s}"


def noise_token(k: int) -> str:
    return f"n{k}"


def token_names(n_classes: int, noise_tokens: int) -> list[str]:
    """Every token the sequences use: the C values, the C queries, the N distractors, in that order."""
    return (
        [value_token(a) for a in range(n_classes)]
        + [query_token(s) for s in range(n_classes)]
        + [noise_token(k) for k in range(noise_tokens)]
    )


def generate(
    n: int, *, distances: Sequence[int], length: int, n_classes: int, noise_tokens: int, seed: int
) -> list[DistanceExample]:
    """`n` sequences of `length` tokens (module docstring).

    Args:
        n: number of sequences, >= 0.
        distances: the distances d, each in [1, length - 1] tokens.
        length: T, tokens per sequence.
        n_classes: C >= 2 values, queries and classes.
        noise_tokens: N >= 1 distractor types.
        seed: seed of the draw.

    Returns:
        The examples, distances in equal shares, in a shuffled order.

    Raises:
        ValueError: for a distance outside [1, length - 1], no distances, C < 2 or N < 1.
    """
    if not distances or any(not 1 <= d <= length - 1 for d in distances):
        raise ValueError(f"every distance must lie in [1, length - 1] = [1, {length - 1}], got {list(distances)}")
    if n_classes < 2 or noise_tokens < 1:
        raise ValueError(f"need n_classes >= 2 and noise_tokens >= 1, got {n_classes} and {noise_tokens}")
    rng = np.random.default_rng(seed)
    per = np.tile(np.asarray(distances, dtype=np.int64), n // len(distances) + 1)[:n]
    per = per[rng.permutation(n)]
    values = rng.integers(0, n_classes, size=n)
    shifts = rng.integers(0, n_classes, size=n)
    noise = rng.integers(0, noise_tokens, size=(n, length))
    out = []
    for i in range(n):
        tokens = [noise_token(int(k)) for k in noise[i]]
        tokens[length - 1 - int(per[i])] = value_token(int(values[i]))
        tokens[length - 1] = query_token(int(shifts[i]))
        out.append(DistanceExample(tuple(tokens), int((values[i] + shifts[i]) % n_classes), int(per[i])))
    return out


def digest(examples: Sequence[DistanceExample]) -> str:
    """The sha256 (hex) of the examples' tokens, labels and distances, to check a regenerated split."""
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{' '.join(e.tokens)}\t{e.label}\t{e.distance}\n".encode())
    return h.hexdigest()
