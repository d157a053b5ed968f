"""The training budget of every run of a study, as ``attnkit study ... --budget`` gives it: a
number of optimiser steps (``5000``, ``5000steps``) or minutes of wall-clock training,
validation included (``30min``, ``1.5min``, ``30m``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["Budget"]

_FORM = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?P<unit>steps?|min|m)?\s*$")


@dataclass(frozen=True)
class Budget:
    """Steps (``train.max_steps``) or minutes (``train.max_minutes``) of training per run: exactly
    one of the two.

    Raises:
        ConfigError: on construction, unless exactly one of `steps` (a whole number >= 1) and
            `minutes` (a finite number > 0) is given.
    """

    steps: int | None = None
    minutes: float | None = None

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.minutes is None):
            raise ConfigError("a study budget is steps or minutes, exactly one of them")
        if self.steps is not None and not (isinstance(self.steps, int) and self.steps >= 1):
            raise ConfigError(f"a budget in steps must be a whole number >= 1, got {self.steps!r}")
        if self.minutes is not None and not (0 < self.minutes < math.inf):
            raise ConfigError(f"a budget in minutes must be a finite number > 0, got {self.minutes!r}")

    @classmethod
    def parse(cls, text: str) -> "Budget":
        """``"5000"`` or ``"5000steps"``: 5,000 steps; ``"30min"`` or ``"30m"``: 30 minutes.

        Raises:
            ConfigError: for any other text, or a value out of range.
        """
        match = _FORM.match(str(text))
        if match is None:
            raise ConfigError(f"budget {str(text)[:40]!r}: give steps (e.g. 5000) or minutes of training (e.g. 30min)")
        number, unit = match["number"], match["unit"] or "steps"
        if unit in ("min", "m"):
            return cls(minutes=float(number))
        value = float(number)
        if value != int(value):
            raise ConfigError(f"budget {text!r}: a number of steps is whole; for minutes write {number}min")
        return cls(steps=int(value))

    def overrides(self) -> list[str]:
        """The ``train.*`` settings of this budget: ``max_steps`` and no time limit, or
        ``max_minutes`` (the config's ``max_steps`` stays an upper bound)."""
        if self.steps is not None:
            return [f"train.max_steps={self.steps}", "train.max_minutes=0"]
        return [f"train.max_minutes={self.minutes}"]

    def label(self) -> str:
        """``"5,000 steps"`` or ``"1.5 min"``."""
        return f"{self.steps:,} steps" if self.steps is not None else f"{self.minutes:g} min"

    def flag(self) -> str:
        """The ``--budget`` value that gives this budget: ``"5000"`` or ``"1.5min"``."""
        return str(self.steps) if self.steps is not None else f"{self.minutes:g}min"

    def record(self) -> dict[str, float]:
        """``{"steps": n}`` or ``{"minutes": m}``, for a study's records."""
        return {"steps": self.steps} if self.steps is not None else {"minutes": float(self.minutes or 0.0)}
