"""The errors a user can cause and fix, in one place.

Every front end turns these into one line naming the problem and the fix (exit 1, or 2 for a
usage error), never a traceback. They subclass ``ValueError`` so library callers can catch them
as bad values.
"""

from __future__ import annotations

__all__ = ["ConfigError", "InputError", "DataError"]


class ConfigError(ValueError):
    """A configuration problem the user can fix (unknown key or name, wrong type, out of range)."""


class InputError(ValueError):
    """Raw input a model cannot take (an empty or over-long line, an unknown locale, a bad file)."""


class DataError(ConfigError):
    """A data file the user gave (or a package installed) that cannot be read as it must be: the
    message names the file and the line, what was expected there and what to do."""
