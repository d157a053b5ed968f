"""Name -> object registries, so configs and the CLI select mechanisms by name.

An unknown name is a ``ValueError`` that lists the valid ones.

A registry may also take plug-ins from other installed packages: with ``plugins="GROUP"`` it
loads the ``importlib.metadata`` entry points of that group (``attnkit.tasks``,
``attnkit.families``, ``attnkit.views``) the first time it is looked up, each entry point's name
the registered name and its object the registered object. A package declares them in its
``pyproject.toml``::

    [project.entry-points."attnkit.tasks"]
    my-task = "my_package.tasks:MyTask"

    [project.entry-points."attnkit.families"]
    my-net = "my_package.models:MyNetFamily"

A plug-in that cannot be loaded (its import fails, its name is taken, its object is refused) is
not registered: one warning line names the entry point, its distribution and the error when the
registry is first looked up, and asking for its name raises that line as the error.
"""

from __future__ import annotations

import logging
import reprlib
import sys
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["Entry", "Registry", "named_class"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with a one-line description and its source paper."""

    name: str
    obj: T
    description: str
    reference: str = ""


class Registry(Generic[T]):
    """An ordered mapping from config names to objects of one kind (scores, models, ...).

    Args:
        kind: what the objects are, for messages ("task", "model family").
        plugins: an entry-point group whose entry points are registered too (module docstring);
            None: only what is registered in Python.
        check: ``check(name, obj)`` gives a one-line problem with a plug-in's object (e.g. a
            class whose ``name`` is not its entry point's), or None when it is fine; plug-ins only.
    """

    def __init__(
        self, kind: str, *, plugins: str | None = None, check: Callable[[str, Any], str | None] | None = None
    ) -> None:
        self.kind = kind
        self.plugins = plugins
        self._check = check
        self._entries: dict[str, Entry[T]] = {}
        self._loaded: dict[str, str] = {}  # name -> the entry point it came from ("name = module:attr")
        self._broken: dict[str, str] = {}  # name -> the one-line error of a plug-in that did not load
        self._scanned: tuple[str, ...] | None = None  # sys.path when the entry points were last read
        self._lock = threading.RLock()
        self._loading = False

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
        self._loaded.pop(name, None)

    def get(self, name: str) -> T:
        """The object registered as `name`.

        Raises:
            ValueError: if `name` is unknown; the message lists the valid names. For the name of
                an installed plug-in that could not be loaded, the message says why.
        """
        self.load_plugins()
        try:
            return self._entries[name].obj
        except (KeyError, TypeError):  # TypeError: a list or mapping given as a name (a config's value)
            if isinstance(name, str) and name in self._broken:
                raise ValueError(self._broken[name]) from None
            raise ValueError(
                f"unknown {self.kind} {reprlib.repr(name)}; choose one of: {', '.join(self._entries)}"
            ) from None

    def entry(self, name: str) -> Entry[T]:
        """The full entry (with description and reference) for `name`."""
        self.get(name)
        return self._entries[name]

    def names(self) -> list[str]:
        self.load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        self.load_plugins()
        return iter(list(self._entries.values()))

    def broken(self) -> dict[str, str]:
        """Installed plug-ins of this registry that could not be loaded: name -> the one-line error."""
        self.load_plugins()
        return dict(self._broken)

    def load_plugins(self) -> None:
        """Register the entry points of the registry's group (none without one), once per
        ``sys.path``: after a change of ``sys.path`` they are read again, new ones registered and
        those no longer installed removed. Called by every look-up; cheap when nothing changed."""
        if self.plugins is None or self._scanned == tuple(sys.path):
            return
        with self._lock:
            if self._loading or self._scanned == tuple(sys.path):  # a plug-in looking names up while it loads
                return
            self._loading = True
            try:
                self._scanned = tuple(sys.path)
                self._load(self.plugins)
            finally:
                self._loading = False

    def _load(self, group: str) -> None:
        found = {ep.name: ep for ep in metadata.entry_points(group=group)}
        for name in [n for n in self._loaded if n not in found or self._loaded[n] != _spelled(found[n])]:
            self._entries.pop(name, None)  # uninstalled (or changed) since it was loaded
            del self._loaded[name]
        self._broken = {n: msg for n, msg in self._broken.items() if n in found}
        for name, ep in found.items():
            if name in self._loaded:
                continue
            problem, obj = self._try(group, ep)
            if problem is not None:
                message = f"{self.kind} plug-in {_origin(group, ep)} {problem}"
                if self._broken.get(name) != message:
                    log.warning("attnkit: %s", message)
                self._broken[name] = message
                continue
            self._broken.pop(name, None)
            if name not in self._entries:
                self._entries[name] = Entry(name, obj, _description(obj, ep))
            self._loaded[name] = _spelled(ep)

    def _try(self, group: str, ep: metadata.EntryPoint) -> tuple[str | None, Any]:
        """(None, the object) of an entry point, or (the problem, None)."""
        dist = _dist(ep)
        fix = f"fix or uninstall {dist}" if dist else "fix or remove it"
        try:
            obj = ep.load()
        except Exception as err:  # a plug-in's import may fail in any way; it must not stop attnkit
            first = (str(err).strip().splitlines() or [""])[0]
            return f"failed to load ({type(err).__name__}: {first}); {fix}", None
        if ep.name in self._entries and self._entries[ep.name].obj is not obj and ep.name not in self._loaded:
            return f"names {self.kind} {ep.name!r}, which is already registered; rename the entry point", None
        problem = self._check(ep.name, obj) if self._check is not None else None
        if problem:
            return f"{problem}; {fix}", None
        return None, obj


def named_class(name: str, obj: Any) -> str | None:
    """The check of task and family plug-ins (``Registry(check=...)``): the object must be a class
    whose ``name`` is the entry point's name (configs select it by that name); None when it is."""
    if not isinstance(obj, type):
        return f"is {reprlib.repr(obj)}, not a class"
    own = getattr(obj, "name", None)
    if own != name:
        return f"is class {obj.__name__} named {own!r}, not {name!r}; give the entry point and the class one name"
    return None


def _spelled(ep: metadata.EntryPoint) -> str:
    return f"{ep.name} = {ep.value}"


def _dist(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.metadata['Name']} {dist.version}" if dist is not None else ""


def _origin(group: str, ep: metadata.EntryPoint) -> str:
    dist = _dist(ep)
    return f"'{_spelled(ep)}' (entry point of group {group}" + (f", distribution {dist})" if dist else ")")


def _description(obj: Any, ep: metadata.EntryPoint) -> str:
    """The first line of the object's own docstring (a class or function), and where it came from."""
    own = (
        obj.__dict__.get("__doc__")
        if isinstance(obj, type)
        else getattr(obj, "__doc__", None)
        if callable(obj)
        else None
    )
    first = (own or "").strip().splitlines()[0] if (own or "").strip() else ""
    dist = _dist(ep)
    origin = f"plug-in of {dist}" if dist else "plug-in"
    return f"{first} ({origin})" if first else origin
