"""Name -> object registries, so configs and the CLI select mechanisms by name.

An unknown name is a ``ValueError`` that lists the valid ones.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Generic, Iterator, TypeVar

from .errors import did_you_mean

T = TypeVar("T")

__all__ = ["Entry", "Registry"]


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with a one-line description and its source paper."""

    name: str
    obj: T
    description: str
    reference: str = ""


class Registry(Generic[T]):
    """An ordered mapping from config names to objects of one kind (scores, models, ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, obj: T, description: str, reference: str = "") -> T:
        """Add `obj` under `name`; raises ValueError if the name is taken."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = Entry(name, obj, description, reference)
        return obj

    def unregister(self, name: str) -> None:
        """Remove `name` (for plug-ins registered only for a while, e.g. in a test)."""
        self.get(name)
        del self._entries[name]

    def get(self, name: str) -> T:
        """The object registered as `name`.

        Raises:
            ValueError: if `name` is unknown; the message lists the valid names.
        """
        try:
            return self._entries[name].obj
        except (KeyError, TypeError):  # TypeError: a list or mapping given as a name (a config's value)
            close = did_you_mean(name, self._entries) if isinstance(name, str) else ""
            raise ValueError(
                f"unknown {self.kind} {reprlib.repr(name)}; choose one of: {', '.join(self._entries)}{close}"
            ) from None

    def entry(self, name: str) -> Entry[T]:
        """The full entry (with description and reference) for `name`."""
        self.get(name)
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())
