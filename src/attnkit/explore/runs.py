"""The runs an explorer serves: each loaded once, named by a short key, never by a path.

Run folders are named on the command line only; a request names a run by its key (the folder's
name, made unique), so no request can make the server read a file of its choosing.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, cast

from ..capabilities import GoldKind, InputKind
from ..tasks.base import SpanGoldTask
from ..training import Run, load_run

__all__ = ["RunRegistry", "Served", "run_keys", "UnknownRun", "Busy", "best_metric"]

_KEY = re.compile(r"[^A-Za-z0-9._-]+")


class UnknownRun(KeyError):
    """A request named a run key the explorer does not serve."""


class Busy(RuntimeError):
    """The run is computing another request for longer than a request waits (answered 503).

    Attributes:
        retry_after: whole seconds after which to try again (the ``Retry-After`` header).
    """

    def __init__(self, key: str, busy_for: float, retry_after: int) -> None:
        super().__init__(f"run {key} has been busy with another request for {busy_for:.1f} s; retry in {retry_after} s")
        self.retry_after = retry_after


def run_keys(paths: Sequence[str | Path]) -> list[str]:
    """A short unique key per run folder: its name (characters outside ``A-Za-z0-9._-`` made
    ``-``), then ``-2``, ``-3``... for repeated names, in order."""
    keys: list[str] = []
    for path in paths:
        base = _KEY.sub("-", Path(path).resolve().name).strip("-") or "run"
        key, n = base, 2
        while key in keys:
            key, n = f"{base}-{n}", n + 1
        keys.append(key)
    return keys


@dataclass
class Served:
    """One served run: the loaded run, its key, a lock that serialises its predictions (a model
    is not shared between threads mid-forward), and the test examples read when first asked."""

    key: str
    run: Run
    lock: threading.Lock = field(default_factory=threading.Lock)
    _examples: list | None = None
    _since: float = 0.0  # time.monotonic() when the request holding the lock took it

    @contextmanager
    def computing(self, wait: float) -> Iterator[None]:
        """Hold the run's lock while computing one request, waiting at most `wait` seconds for it.

        Raises:
            Busy: when another request holds it for longer (its ``retry_after``: the seconds the
                holder has run so far, at least 1: a long request is likely to run as long again).
        """
        if not self.lock.acquire(timeout=max(wait, 0.0)):
            busy_for = max(time.monotonic() - self._since, 0.0)
            raise Busy(self.key, busy_for, max(1, math.ceil(busy_for)))
        self._since = time.monotonic()
        try:
            yield
        finally:
            self.lock.release()

    def examples(self) -> list:
        """The run's saved test examples of a text task that decodes (each has ``text``, ``target``
        and ``locale``, as :class:`attnkit.tasks.seq2seq.Seq2SeqTask` reads them); empty for
        other tasks."""
        if self._examples is None:
            caps = self.run.capabilities.task
            examples: list = []
            if caps.decodes and caps.input is InputKind.TEXT:
                try:
                    examples = list(self.run.task.load_split(self.run.path, "test"))
                except (OSError, ValueError):
                    examples = []
            self._examples = examples
        return self._examples

    def gold(self, text: str, locale: str) -> list[list[int]] | None:
        """Gold links (output position, source start, source end) for an input that is one of
        the run's test examples, where the task has them (gold spans: ``gold_alignment``); else None."""
        if self.run.capabilities.task.gold is not GoldKind.SPANS:
            return None
        for example in self.examples():
            if example.text == text and example.locale == locale:
                task = cast(SpanGoldTask, self.run.task)  # declared: gold spans
                return [list(map(int, link)) for link in task.gold_alignment(example)]
        return None

    def gold_words(self, text: str) -> Any:
        """The test example whose source is `text` and that has gold word links (an
        :class:`attnkit.tasks.aligned_translation.AlignedExample`, ``gold`` a set of (source
        word, target word) pairs), or None."""
        if self.run.capabilities.task.gold is not GoldKind.WORD_LINKS:
            return None
        for example in self.examples():
            if example.text == text and example.gold is not None:
                return example
        return None

    def metadata(self) -> dict[str, Any]:
        """What the page needs to know about the run (plain JSON values): its capabilities
        (:meth:`attnkit.capabilities.RunCapabilities.to_json`) and its labels."""
        run, task = self.run, self.run.task
        caps = run.capabilities
        gold = caps.task.gold is GoldKind.SPANS or (
            caps.task.gold is GoldKind.WORD_LINKS and any(e.gold is not None for e in self.examples())
        )
        return {
            "key": self.key,
            "label": run.label,
            "folder": run.path.name,
            "task": task.name,
            "arch": run.config.model.arch,
            **caps.to_json(),
            "metric": task.metric.name,
            "best": best_metric(run.path, task.metric),
            "gold": gold,
            "examples": len(self.examples()),
        }


def best_metric(run_dir: Path, metric) -> float | None:
    """The best validation value of the primary metric in ``metrics.jsonl`` (None if none)."""
    best = None
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            value = json.loads(line).get(f"dev_{metric.name}")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, (int, float)) and (best is None or metric.better(value, best)):
            best = float(value)
    return best


class RunRegistry:
    """The runs an explorer serves, by key, in command-line order.

    Args:
        runs: key -> loaded :class:`~attnkit.training.Run`.
    """

    def __init__(self, runs: Mapping[str, Run]) -> None:
        if not runs:
            raise ValueError("no runs to explore; name at least one run folder")
        self._served = {key: Served(key, run) for key, run in runs.items()}

    @classmethod
    def load(cls, paths: Sequence[str | Path], *, device: str = "cpu") -> "RunRegistry":
        """Load run folders (:func:`~attnkit.training.load_run`) under :func:`run_keys`.

        Raises:
            attnkit.training.RunError: for a missing or unusable folder.
            ValueError: for no folders.
        """
        return cls({key: load_run(path, device=device) for key, path in zip(run_keys(paths), paths)})

    def keys(self) -> list[str]:
        return list(self._served)

    def __getitem__(self, key: str) -> Served:
        try:
            return self._served[key]
        except KeyError:
            raise UnknownRun(key) from None

    def __len__(self) -> int:
        return len(self._served)
