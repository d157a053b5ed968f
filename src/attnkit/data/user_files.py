"""Reading a user's own data files strictly: tab-separated lines and CSV tables, with one-line
errors that name the file and the line, and the seeded split of examples that come without one
(:func:`given_or_drawn`: the dev and test files as given, or a seeded split of the training file).

Every reader here raises :class:`~attnkit.errors.ConfigError` (the files are named by the run's
``data:`` section) with a message of the form ``PATH:LINE: what is wrong; what to do``: a file
that is missing or not UTF-8 (the line of the first bad byte), a line with too few or too many
fields, an empty field that must not be. Blank lines are skipped everywhere; a line is counted as
a text editor counts it (from 1, blank lines included).

The user-data tasks (:mod:`attnkit.tasks.user_images`, ``user_graph``, ``user_audio``,
``user_text``) read their files through these functions.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence, TypeVar

import numpy as np

from ..errors import ConfigError
from .node_graph import split_nodes

__all__ = [
    "Row",
    "read_text_file",
    "read_tsv",
    "read_csv",
    "split_examples",
    "check_split_files",
    "draw_split",
    "given_or_drawn",
    "label_classes",
    "check_labels",
    "SPLITS",
]

SPLITS = ("train", "dev", "test")

T = TypeVar("T")


class Row(NamedTuple):
    """One line of a user file: its line number (from 1) and its fields."""

    line: int
    fields: list[str]


def read_text_file(path: str | Path, what: str) -> str:
    """The text of a UTF-8 file (a leading byte-order mark dropped).

    Args:
        path: the file.
        what: what the file should be, for the message (``"a labels TSV (FILE<TAB>LABEL)"``).

    Raises:
        attnkit.errors.ConfigError: ``PATH: no such file`` or ``PATH:LINE: not UTF-8 text``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; give {what}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give {what}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None


def read_tsv(
    path: str | Path, columns: Sequence[str], *, optional: int = 0, last_takes_rest: bool = False
) -> list[Row]:
    """The non-blank lines of a tab-separated file without a header, each split into its fields.

    Args:
        path: the file.
        columns: the names of the fields, for the messages (``["file", "label"]``).
        optional: how many of the last `columns` a line may leave out (their fields are "").
        last_takes_rest: the last column takes the rest of the line, tabs included (a text).

    Returns:
        One :class:`Row` per non-blank line, in order; every row has ``len(columns)`` fields,
        stripped of surrounding white space.

    Raises:
        attnkit.errors.ConfigError: for a missing or non-UTF-8 file, a line with too few or too
            many fields, or an empty required field; the message names the file and the line.
    """
    layout = "<TAB>".join(c.upper() for c in columns)
    text = read_text_file(path, f"a tab-separated file of {layout} lines")
    rows = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        fields = raw.split("\t", len(columns) - 1) if last_takes_rest else raw.split("\t")
        if not len(columns) - optional <= len(fields) <= len(columns):
            raise ConfigError(
                f"{path}:{number}: {len(fields)} tab-separated field{'s' * (len(fields) != 1)}, "
                f"expected {layout}{f' (the last {optional} optional)' if optional else ''}"
            )
        fields = [f.strip() for f in fields] + [""] * (len(columns) - len(fields))
        for name, value in zip(columns[: len(columns) - optional], fields):
            if not value:
                raise ConfigError(f"{path}:{number}: the {name} field is empty; expected {layout}")
        rows.append(Row(number, fields))
    if not rows:
        raise ConfigError(f"{path}: no lines; expected {layout} lines")
    return rows


def read_csv(path: str | Path, required: Sequence[str], what: str) -> tuple[list[str], list[Row]]:
    """A comma-separated table with a header line (RFC 4180 quoting, as Python's ``csv`` reads it).

    Args:
        path: the file.
        required: column names the header must hold.
        what: what the file should be, for the messages (``"the node table"``).

    Returns:
        (header, rows): the column names, and one :class:`Row` per non-blank record after the
        header with exactly ``len(header)`` fields (not stripped); ``Row.line`` is the line the
        record starts on.

    Raises:
        attnkit.errors.ConfigError: for a missing or non-UTF-8 file, no header, a required or
            repeated column name, a record with another number of fields than the header, or a
            quoting error; the message names the file and the line.
    """
    text = read_text_file(path, f"{what} (a CSV file with a header line)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows = []
    start = 1
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not record or not any(f.strip() for f in record):
                continue
            if header is None:
                header = [name.strip() for name in record]
                missing = [name for name in required if name not in header]
                if missing:
                    raise ConfigError(
                        f"{path}:{line}: the header has no column {', '.join(map(repr, missing))} "
                        f"(it has {', '.join(header)}); {what} needs {', '.join(required)}"
                    )
                repeated = sorted({name for name in header if header.count(name) > 1})
                if repeated:
                    raise ConfigError(f"{path}:{line}: column {repeated[0]!r} appears twice in the header")
                continue
            if len(record) != len(header):
                raise ConfigError(
                    f"{path}:{line}: {len(record)} fields, but the header names {len(header)} ({', '.join(header)})"
                )
            rows.append(Row(line, record))
    except csv.Error as err:
        raise ConfigError(f"{path}:{reader.line_num}: not a well-formed CSV line ({err})") from None
    if header is None:
        raise ConfigError(f"{path}: empty; {what} needs a header line naming {', '.join(required)}")
    return header, rows


def split_examples(
    labels: Sequence[int], *, seed: int, dev_fraction: float, test_fraction: float
) -> dict[str, list[int]]:
    """The seeded split of N examples into train, dev and test, stratified by label.

    :func:`attnkit.data.node_graph.split_nodes` draws it: each label with at least 3 examples
    puts about `test_fraction` of them in test and `dev_fraction` in dev (at least one each) and
    the rest in train; a label with 1 or 2 examples goes wholly to train. Give every example the
    same label for an unstratified split.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``: sorted indices into `labels`.

    Raises:
        attnkit.errors.ConfigError: if dev or test would be empty (fewer than 3 examples of every label).
    """
    drawn = split_nodes(np.asarray(labels, dtype=np.int64), seed, dev_fraction, test_fraction)
    out = {name: [int(i) for i in getattr(drawn, name)] for name in SPLITS}
    if not out["dev"] or not out["test"]:
        raise ConfigError(
            f"{len(labels)} examples are too few to split: every class needs at least 3 examples "
            "for one each in dev and test; add examples, or give the dev and test sets yourself"
        )
    return out


def check_split_files(cfg: Any) -> None:
    """Check that ``cfg.dev`` and ``cfg.test`` (a ``data:`` section's files) are both given or both empty.

    Raises:
        attnkit.errors.ConfigError: if only one of them is given.
    """
    if bool(cfg.dev) != bool(cfg.test):
        raise ConfigError("data.dev and data.test: give both (or neither, to split data.train)")


def draw_split(items: Sequence[T], strata: Sequence[int], cfg: Any) -> dict[str, list[T]]:
    """The seeded split of `items` by :func:`split_examples` (``cfg.seed``, ``cfg.dev_fraction``,
    ``cfg.test_fraction``), stratified by `strata` (one int per item; all equal: unstratified).

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``, each in the order of `items`.

    Raises:
        attnkit.errors.ConfigError: if dev or test would be empty.
    """
    drawn = split_examples(strata, seed=cfg.seed, dev_fraction=cfg.dev_fraction, test_fraction=cfg.test_fraction)
    return {split: [items[i] for i in drawn[split]] for split in SPLITS}


def given_or_drawn(
    cfg: Any, read: Callable[[str], list[T]], strata: Callable[[list[T]], Sequence[int]]
) -> dict[str, list[T]]:
    """The examples of each split: ``read`` of ``cfg.train``, ``cfg.dev`` and ``cfg.test`` when dev
    and test are given, else those of ``cfg.train`` alone, split by :func:`draw_split` with the
    strata ``strata(examples)``.

    Raises:
        attnkit.errors.ConfigError: whatever `read` and `strata` raise, or a split too small to draw.
    """
    if cfg.dev:
        return {split: read(getattr(cfg, split)) for split in SPLITS}
    every = read(cfg.train)
    return draw_split(every, strata(every), cfg)


def label_classes(labels: Sequence[str], train_file: str) -> list[str]:
    """The classes of a training file's labels, sorted.

    Raises:
        attnkit.errors.ConfigError: for fewer than two different labels.
    """
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ConfigError(f"{train_file}: every example has the label {classes[0]!r}; give at least two labels")
    return classes


def check_labels(classes: Sequence[str], labelled: Sequence[tuple[str, int, str]], train_file: str) -> None:
    """Check that every (file, line, label) of `labelled` (dev or test) has a training class.

    Raises:
        attnkit.errors.ConfigError: ``FILE:LINE: label ... has no training example``.
    """
    for path, line, label in labelled:
        if label not in classes:
            raise ConfigError(
                f"{path}:{line}: label {label!r} has no training example (the labels of {train_file}: "
                f"{', '.join(classes)})"
            )
