"""ListOps [Nangia18] in the setting of Long Range Arena [Tay21]: nested list operations over the
digits 0-9, written in prefix form, whose value (a digit) is the class of the sequence.

Grammar. A tree is a digit ``0``..``9`` or an operation ``OP a_1 ... a_k ]`` with ``OP`` one of
``[MIN``, ``[MAX``, ``[MED`` (the median, rounded down when k is even), ``[SM`` (the sum mod 10)
and 2 <= k <= ``max_args`` arguments, each a tree. Example: ``[MAX 2 9 [MIN 4 7 ] 0 ]`` is 9.
The tokens are the operators, the digits and ``]``; a sequence's length is its number of tokens.

Generation (LRA's ``generate_tree``, lra_benchmarks/data/listops.py, with its parameters). A node
at depth d (the root has d = 1) is a digit drawn uniformly with probability 1 - ``value_p`` = 0.75
when d < ``max_depth`` and always when d = ``max_depth``; otherwise an operator drawn uniformly,
with k drawn uniformly from 2..``max_args`` and its arguments generated at depth d + 1. Trees are
drawn from one ``random.Random(seed)`` until there are ``train_size + dev_size + test_size``
distinct sequences with ``min_length <= length <= max_length`` tokens (shorter and longer trees
are thrown away); the first ``train_size`` are the training split, the next ``dev_size`` dev, the
rest test, so no sequence is in two splits. LRA's parameters: max_depth 10, max_args 10,
min_length 500, max_length 2000 (96,000 / 2,000 / 2,000 examples). The same parameters and seed
give the same splits, token for token.

Nesting depth. Each example keeps its nesting depth: the most operators open at one token (a
digit alone has depth 0; ``[MAX 1 [MIN 2 3 ] ]`` has depth 2); at most ``max_depth - 1``. The
answer of a deeper tree depends on tokens further apart, so accuracy by depth measures how a
model copes with distance.

Differences from LRA:
    - Tokens. LRA writes each tree with a parenthesis around every (partial) application
      (``( ( [MAX 2 ) 9 )``) and tokenises with TensorFlow Datasets' tokenizer, which drops every
      non-alphanumeric character, so its models see ``MAX 2 9`` without brackets and without the
      closing ``]``, cut at 2,000 tokens. Here the tokens are the grammar's own (``[MAX``, ``]``,
      digits; no parentheses), and a sequence's length is the length LRA's generator counts.
    - Length bounds are inclusive (LRA keeps 500 < length < 2000).
    - A tree longer than ``max_length`` is abandoned as soon as it grows past it (LRA builds it
      whole and then discards it); this changes which random numbers are drawn, not which trees
      are kept.
    - Python's ``random`` with our own seeding: the data are not LRA's files, only drawn the same way.

References:
    [Nangia18] N. Nangia, S. R. Bowman. ListOps: A Diagnostic Dataset for Latent Tree Learning.
    NAACL 2018 Student Research Workshop. arXiv:1804.06028.
    [Tay21] Y. Tay, M. Dehghani, S. Abnar, Y. Shen, D. Bahri, P. Pham, J. Rao, L. Yang, S. Ruder,
    D. Metzler. Long Range Arena: A Benchmark for Efficient Transformers. ICLR 2021. arXiv:2011.04006.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..io import atomic_write_text

__all__ = [
    "OPERATORS",
    "END",
    "DIGITS",
    "TOKENS",
    "VALUE_P",
    "ListOpsExample",
    "ListOpsError",
    "evaluate_tokens",
    "nesting_depth",
    "generate_tree",
    "generate_splits",
    "write_examples",
    "read_examples",
]

OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
END = "]"
DIGITS = tuple(str(d) for d in range(10))
TOKENS = OPERATORS + (END,) + DIGITS  # every token of the grammar, in vocabulary order
VALUE_P = 0.25  # LRA's VALUE_P: P(an operator) at a node above max_depth


class ListOpsError(ValueError):
    """A token sequence that is not a ListOps tree."""


@dataclass(frozen=True)
class ListOpsExample:
    """One sequence: its tokens, its value (the class, 0-9) and its nesting depth."""

    tokens: tuple[str, ...]
    label: int
    depth: int


def _apply(op: str, args: Sequence[int]) -> int:
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[SM":
        return sum(args) % 10
    ordered = sorted(args)  # [MED: the median, the mean of the middle two rounded down when even
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2


def evaluate_tokens(tokens: Sequence[str]) -> int:
    """The value of a ListOps sequence, read left to right with a stack of open operations.

    Args:
        tokens: the sequence, e.g. ``["[MAX", "2", "9", "]"]``.

    Returns:
        Its value, 0-9.

    Raises:
        ListOpsError: for an unknown token, a ``]`` without an open operation or an operation
            without arguments, an operation left open, or more than one tree.
    """
    stack: list[tuple[str, list[int]]] = []
    result: int | None = None
    for i, token in enumerate(tokens):
        if result is not None:
            raise ListOpsError(f"token {i} ({token!r}) follows a complete tree; give one tree")
        if token in OPERATORS:
            stack.append((token, []))
            continue
        if token == END:
            if not stack or not stack[-1][1]:
                raise ListOpsError(f"token {i} (']') closes no operation with arguments")
            op, args = stack.pop()
            value = _apply(op, args)
        elif token in DIGITS:
            value = int(token)
        else:
            raise ListOpsError(f"token {i} ({token!r}) is not a ListOps token; use {' '.join(TOKENS)}")
        if stack:
            stack[-1][1].append(value)
        else:
            result = value
    if stack or result is None:
        raise ListOpsError(f"{len(stack) or 'no'} operation(s) left open; close each with ']'")
    return result


def nesting_depth(tokens: Iterable[str]) -> int:
    """The most operations open at one token (0 for a digit alone)."""
    depth = deepest = 0
    for token in tokens:
        if token in OPERATORS:
            depth += 1
            deepest = max(deepest, depth)
        elif token == END:
            depth -= 1
    return deepest


class _TooLong(Exception):
    pass


def generate_tree(rng: random.Random, *, max_depth: int, max_args: int, max_length: int | None = None) -> list[str]:
    """The tokens of one tree drawn as LRA's ``generate_tree`` draws it (see the module docs).

    Args:
        rng: the random generator.
        max_depth: depth at which every node is a digit (the root is at depth 1).
        max_args: most arguments of an operation (>= 2).
        max_length: abandon the tree once it has more tokens than this; None: never.

    Returns:
        The tokens, or an empty list for a tree abandoned past `max_length`.
    """
    out: list[str] = []

    def grow(depth: int) -> None:
        if max_length is not None and len(out) > max_length:
            raise _TooLong
        if (rng.random() if depth < max_depth else 1.0) > VALUE_P:
            out.append(rng.choice(DIGITS))
            return
        n_args = rng.randint(2, max_args)
        slot = len(out)
        out.append(END)  # the operator's place: LRA draws it after the arguments
        for _ in range(n_args):
            grow(depth + 1)
        out[slot] = rng.choice(OPERATORS)
        out.append(END)

    try:
        grow(1)
    except _TooLong:
        return []
    if max_length is not None and len(out) > max_length:
        return []
    return out


def generate_splits(
    *,
    seed: int,
    sizes: Sequence[tuple[str, int]],
    min_length: int,
    max_length: int,
    max_depth: int,
    max_args: int,
    max_draws: int = 50_000_000,
) -> dict[str, list[ListOpsExample]]:
    """Distinct sequences of ``min_length``..``max_length`` tokens, split in drawing order.

    Args:
        seed: seed of the one ``random.Random`` every draw uses.
        sizes: (split name, number of examples) in order, e.g. ``[("train", 96000), ("dev", 2000), ...]``.
        min_length, max_length: inclusive bounds on a sequence's tokens.
        max_depth, max_args: the grammar's parameters (module docs).
        max_draws: give up after this many trees drawn.

    Returns:
        {split: examples}, each example with its value (:func:`evaluate_tokens`) and depth.

    Raises:
        ListOpsError: when `max_draws` trees give too few sequences of the asked lengths (the bounds
            cannot be met with this depth and arity).
    """
    rng = random.Random(seed)
    wanted = sum(n for _, n in sizes)
    seen: set[str] = set()
    found: list[ListOpsExample] = []
    draws = 0
    while len(found) < wanted:
        draws += 1
        if draws > max_draws:
            raise ListOpsError(
                f"{max_draws} trees gave only {len(found)} of {wanted} sequences of {min_length}-{max_length} "
                f"tokens with max_depth={max_depth}, max_args={max_args}; widen the bounds or raise the depth"
            )
        tokens = generate_tree(rng, max_depth=max_depth, max_args=max_args, max_length=max_length)
        if len(tokens) < min_length:
            continue
        text = " ".join(tokens)
        if text in seen:
            continue
        seen.add(text)
        found.append(ListOpsExample(tuple(tokens), evaluate_tokens(tokens), nesting_depth(tokens)))
    splits, start = {}, 0
    for name, n in sizes:
        splits[name] = found[start : start + n]
        start += n
    return splits


def write_examples(examples: Sequence[ListOpsExample], path: str | Path) -> None:
    """Write `examples` as JSON lines ``{"tokens": "[MAX 2 9 ]", "label": 9, "depth": 1}``, atomically."""
    atomic_write_text(
        Path(path),
        "".join(
            json.dumps({"tokens": " ".join(e.tokens), "label": e.label, "depth": e.depth}) + "\n" for e in examples
        ),
    )


def read_examples(path: str | Path) -> list[ListOpsExample]:
    """The examples :func:`write_examples` wrote to `path`, in order."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        out.append(ListOpsExample(tuple(d["tokens"].split()), int(d["label"]), int(d["depth"])))
    return out
