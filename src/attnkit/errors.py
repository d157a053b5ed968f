"""The errors a user can cause and fix, in one place.

Every front end turns these into one line naming the problem and the fix (exit 1, or 2 for a
usage error), never a traceback. They subclass ``ValueError`` so library callers can catch them
as bad values.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["ConfigError", "InputError", "DataError", "did_you_mean"]


class ConfigError(ValueError):
    """A configuration problem the user can fix (unknown key or name, wrong type, out of range)."""


class InputError(ValueError):
    """Raw input a model cannot take (an empty or over-long line, an unknown locale, a bad file)."""


class DataError(ConfigError):
    """A data file the user gave (or a package installed) that cannot be read as it must be: the
    message names the file and the line, what was expected there and what to do."""


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """``"; did you mean 'x'?"``, naming the choices closest to `word` (up to three, by
    :func:`difflib.get_close_matches`), or ``""`` when none is close: the end of the message of a
    mistyped name or key."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=3, cutoff=0.6)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""
