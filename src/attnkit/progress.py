"""Progress of long work (training, decoding, evaluation, speech synthesis, data building, studies):
a bar on a terminal, a periodic one-line log everywhere else.

Where stderr is a terminal, :class:`Progress` draws a :mod:`tqdm` bar there (shown only after
``delay`` seconds, so quick work draws nothing). Where it is not (a pipe, ``nohup``, a batch
queue, a log file), it logs one line at most every ``ATTNKIT_PROGRESS_INTERVAL`` seconds through
:mod:`logging` (logger ``attnkit.progress``, level INFO: the ``attnkit`` command shows them,
``-q`` hides them, a library caller sees them once it configures logging), e.g.::

    decode: 1,200/5,000 sentences (24%), 41.3 sentences/s, elapsed 0:29, ETA 1:32

Two environment variables steer it:

- ``ATTNKIT_PROGRESS``: ``auto`` (the default: a bar on a terminal, log lines elsewhere),
  ``bar``, ``log`` or ``off``;
- ``ATTNKIT_PROGRESS_INTERVAL``: seconds between log lines, a positive number (default 20).

The ETA follows whichever budget ends first: the work left at the current rate, or a
``deadline`` (a training run's ``max_minutes``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Iterable, Iterator, TypeVar

from .errors import ConfigError

__all__ = ["Progress", "progress", "DEFAULT_INTERVAL", "INTERVAL_ENV", "MODE_ENV"]

log = logging.getLogger("attnkit.progress")

#: seconds between two log lines when stderr is not a terminal
DEFAULT_INTERVAL = 20.0
INTERVAL_ENV = "ATTNKIT_PROGRESS_INTERVAL"
MODE_ENV = "ATTNKIT_PROGRESS"
_MODES = ("auto", "bar", "log", "off")

T = TypeVar("T")


def _mode() -> str:
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise ConfigError(f"{MODE_ENV}={mode!r} is not a progress mode; use one of {', '.join(_MODES)}")
    if mode == "auto":
        stream = sys.stderr
        return "bar" if stream is not None and stream.isatty() else "log"
    return mode


def _interval() -> float:
    text = os.environ.get(INTERVAL_ENV, "")
    if not text.strip():
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(f"{INTERVAL_ENV}={text!r} must be a positive number of seconds, e.g. 20")
    return value


def _clock(seconds: float) -> str:
    from tqdm import tqdm as std_tqdm

    return str(std_tqdm.format_interval(max(0.0, seconds)))


def _eta(done: int, total: int | None, rate: float | None, deadline: float | None, now: float) -> float | None:
    """Seconds left: the work left at `rate` (items/s), or until `deadline` (a
    :func:`time.perf_counter` time), whichever ends first; None when neither is known."""
    left = [(total - done) / rate] if total is not None and rate else []
    if deadline is not None:
        left.append(deadline - now)
    return max(0.0, min(left)) if left else None


class Progress:
    """Progress of `total` units of work: a bar on a terminal, else a log line every interval.

    Args:
        total: units of work in all (None when unknown: no percentage, no ETA from the rate).
        desc: what is being done, in front of the bar or line (``"decode"``, ``"train"``).
        unit: the name of one unit (``"sentence"``, ``"step"``, ``"file"``).
        initial: units already done (a resumed run).
        enabled: False draws and logs nothing (a ``--no-progress`` flag).
        deadline: a :func:`time.perf_counter` time when the work stops anyway (a training
            budget in minutes); the ETA is then the earlier of the two ends.
        delay: seconds before a bar first appears (0: at once).
        position: line of the bar when several bars share a terminal (parallel trainings).

    Raises:
        attnkit.errors.ConfigError: for an unknown ``ATTNKIT_PROGRESS`` or a bad
            ``ATTNKIT_PROGRESS_INTERVAL``.
    """

    def __init__(
        self,
        total: int | None,
        *,
        desc: str,
        unit: str = "it",
        initial: int = 0,
        enabled: bool = True,
        deadline: float | None = None,
        delay: float = 1.0,
        position: int | None = None,
    ) -> None:
        self.total, self.desc, self.unit, self.n, self.deadline = total, desc, unit, initial, deadline
        self.mode = _mode() if enabled else "off"
        self.interval = _interval() if self.mode == "log" else DEFAULT_INTERVAL
        self.postfix: dict[str, Any] = {}
        self._start = self._last = time.perf_counter()
        self._initial = initial
        self._logged: int | None = None  # the count of the last log line
        self._bar: Any = None
        if self.mode == "bar":
            self._bar = _bar(total, desc, unit, initial, deadline, delay, position)

    def update(self, n: int = 1) -> None:
        """`n` more units done."""
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "log":
            now = time.perf_counter()
            if now - self._last >= self.interval:
                self._last, self._logged = now, self.n
                log.info("%s", self.line(now))

    def set_postfix(self, **values: Any) -> None:
        """Values shown after the counts (a loss, tokens per second)."""
        self.postfix = values
        if self._bar is not None:
            self._bar.set_postfix(values, refresh=False)

    def line(self, now: float | None = None) -> str:
        """The one-line report: counts, share, rate, elapsed time, ETA and the postfix values."""
        now = time.perf_counter() if now is None else now
        elapsed = now - self._start
        rate = (self.n - self._initial) / elapsed if elapsed > 0 else None
        units = f"{self.unit}s" if self.unit and not self.unit.endswith("s") else self.unit
        counts = f"{self.n:,}" + (f"/{self.total:,}" if self.total is not None else "") + f" {units}"
        if self.total:
            counts += f" ({100 * self.n / self.total:.0f}%)"
        parts = [counts, f"{rate:,.1f} {units}/s" if rate else f"? {units}/s", f"elapsed {_clock(elapsed)}"]
        eta = _eta(self.n, self.total, rate, self.deadline, now)
        if eta is not None:
            parts.append(f"ETA {_clock(eta)}")
        parts += [f"{k} {v}" for k, v in self.postfix.items()]
        return f"{self.desc}: " + ", ".join(parts)

    def close(self) -> None:
        """End the bar; after log lines, one last line with the final counts (unless the last line had them)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._logged is not None and self._logged != self.n:
            log.info("%s", self.line())
        self._logged = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    items: Iterable[T], *, desc: str, unit: str = "it", total: int | None = None, enabled: bool = True
) -> Iterator[T]:
    """Yield `items`, reporting progress as :class:`Progress` does (`total` defaults to
    ``len(items)`` when it has one)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with Progress(total, desc=desc, unit=unit, enabled=enabled) as bar:
        for item in items:
            yield item
            bar.update(1)


def _bar(
    total: int | None, desc: str, unit: str, initial: int, deadline: float | None, delay: float, position: int | None
) -> Any:
    """A tqdm bar on stderr; with a `deadline`, its ETA is the earlier of the rate's and the deadline's."""
    from tqdm.auto import tqdm

    class Bar(tqdm):
        @property
        def format_dict(self) -> dict[str, Any]:
            values = dict(super().format_dict)
            eta = _eta(self.n, self.total, values.get("rate"), deadline, time.perf_counter())
            values["budget_eta"] = "?" if eta is None else _clock(eta)
            return values

    options: dict[str, Any] = dict(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        dynamic_ncols=True,
        leave=False,
        delay=delay,
        position=position,
        file=sys.stderr,
    )
    if deadline is None:
        return tqdm(**options)
    return Bar(**options, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{budget_eta}, {rate_fmt}{postfix}]")
