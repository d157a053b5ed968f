"""Date examples in bulk: seeded samples, train/dev/test splits without repeated texts, and
JSON-lines files of them.

The formats, the rendering of one date and the :class:`DateExample` record are in
:mod:`attnkit.data.date_formats` (its module docstring describes the formats per locale); they
are imported here too, so ``from attnkit.data import dates`` gives the whole date data API
(``dates.render``, ``dates.LOCALES``, ``dates.make_splits``...). The task plug-in that trains on
these examples is :mod:`attnkit.tasks.date_task`.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Iterable

from .date_formats import (
    FIRST_DATE,
    LAST_DATE,
    LOCALES,
    DateExample,
    check_locale,
    date_formats,
    draw_example,
    format_names,
    render,
)

__all__ = [
    "LOCALES",
    "FIRST_DATE",
    "LAST_DATE",
    "DateExample",
    "check_locale",
    "date_formats",
    "format_names",
    "render",
    "sample_examples",
    "make_splits",
    "distinct_texts",
    "save_jsonl",
    "load_jsonl",
]


def _checked_locales(locales: Iterable[str]) -> tuple[str, ...]:
    out = tuple(check_locale(loc) for loc in locales)
    if not out:
        raise ValueError(f"locales is empty; choose one or more of: {', '.join(LOCALES)}")
    return out


def _check_count(name: str, n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{name} must be a non-negative int, got {n!r}")


def distinct_texts(locales: Iterable[str]) -> int:
    """An upper bound of the distinct texts the generator makes for `locales`: the days from
    :data:`FIRST_DATE` to :data:`LAST_DATE` times each locale's formats (some formats write some
    dates alike, so the true number is a little lower).

    Raises:
        ValueError: if `locales` is empty or holds an unknown locale.
    """
    days = (LAST_DATE - FIRST_DATE).days + 1
    return days * sum(len(format_names(loc)) for loc in _checked_locales(locales))


def sample_examples(n: int, seed: int, locales: Iterable[str] = LOCALES) -> list[DateExample]:
    """Draw `n` independent examples (duplicates possible) from ``random.Random(seed)``.

    Each draw picks a locale uniformly, then one of its `format_names` uniformly (so a textual
    format and its upper/lower variants count as three), then a date uniformly in the window.

    Args:
        n: number of examples, >= 0.
        seed: seed for `random.Random`; the same seed and locales give the same list.
        locales: subset of `LOCALES` to draw from.

    Raises:
        ValueError: if `n` is negative, `locales` is empty or holds an unknown locale.
    """
    _check_count("n", n)
    locales = _checked_locales(locales)
    rng = random.Random(seed)
    return [draw_example(rng, locales) for _ in range(n)]


def make_splits(
    n_train: int, n_dev: int, n_test: int, seed: int, locales: Iterable[str] = LOCALES
) -> dict[str, list[DateExample]]:
    """Train/dev/test lists of exactly the requested sizes, with no `text` in two places.

    Draws as `sample_examples` does from one ``random.Random(seed)``, skipping any example whose
    text was already drawn (in any split). Test is filled first, then dev, then train, so the
    test set depends only on `seed`, `locales` and `n_test`, and does not change with `n_train`.

    Args:
        n_train, n_dev, n_test: split sizes, >= 0.
        seed: seed for `random.Random`.
        locales: subset of `LOCALES` to draw from.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``.

    Raises:
        ValueError: if a size is negative, `locales` is empty or unknown, or there are too few
            distinct texts to fill the splits (far beyond any practical size with all locales).
    """
    sizes = {"test": n_test, "dev": n_dev, "train": n_train}
    for split, n in sizes.items():
        _check_count(f"n_{split}", n)
    locales = _checked_locales(locales)
    rng = random.Random(seed)
    total = sum(sizes.values())
    max_draws = 20 * total + 1000
    seen: set[str] = set()
    splits: dict[str, list[DateExample]] = {}
    draws = 0
    for split, n in sizes.items():
        examples: list[DateExample] = []
        while len(examples) < n:
            if draws >= max_draws:
                raise ValueError(
                    f"found only {len(seen)} distinct texts in {draws} draws for "
                    f"{total} requested; ask for fewer examples or more locales"
                )
            draws += 1
            example = draw_example(rng, locales)
            if example.text not in seen:
                seen.add(example.text)
                examples.append(example)
        splits[split] = examples
    return {"train": splits["train"], "dev": splits["dev"], "test": splits["test"]}


def save_jsonl(examples: Iterable[DateExample], path: str | os.PathLike) -> None:
    """Write one JSON object per line (UTF-8) atomically: temp file in the same folder, then rename.

    Raises:
        OSError: if the folder of `path` does not exist or is not writable.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            for example in examples:
                f.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_jsonl(path: str | os.PathLike) -> list[DateExample]:
    """Read examples written by `save_jsonl`; blank lines are skipped.

    Raises:
        ValueError: naming the file and line, if a line is not a valid example.
    """
    examples = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                examples.append(DateExample.from_dict(json.loads(line)))
            except (ValueError, TypeError, KeyError) as err:
                raise ValueError(f"{os.fspath(path)}:{lineno}: not a date example ({err})") from err
    return examples
