"""Model families as plug-ins: each owns its config section (``model:``), builds its model and
declares what that model can do.

A family is registered by name in :data:`FAMILIES`; ``model.arch`` in a run config selects it,
and the rest of the ``model:`` section is loaded strictly into the family's ``config_class``.
:meth:`ModelFamily.build` receives the task's :class:`~attnkit.models.specs.ModelSpec`
(vocabulary sizes, classes, lengths), so a family never looks into a task and a task never names
a family. :meth:`ModelFamily.capabilities` declares what the built model can do
(:class:`~attnkit.capabilities.ModelCapabilities`), read when a run loads instead of probing the
model.

Each family lives in its own module beside its model (``rnn/family.py``,
``transformer_family.py``, ...) and registers itself there; importing :mod:`attnkit.models`
registers them all. Adding a family is one such module (even outside attnkit) and one
:meth:`Registry.register` call, or an installed package's entry point in the group
``attnkit.families`` (:mod:`attnkit.registry`); ``docs/architecture.md`` shows the smallest
complete example.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, ClassVar, Protocol, runtime_checkable

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..registry import Registry, named_class
from .specs import ModelSpec

__all__ = ["ModelFamily", "FAMILIES", "set_fields", "check_dropout"]


@runtime_checkable
class ModelFamily(Protocol):
    """The interface of a model family plug-in (a class with these class attributes/methods).

    Attributes:
        name: the ``model.arch`` value that selects it.
        config_class: frozen dataclass of the ``model:`` section; its first field is ``arch``,
            and ``check()`` raises :class:`~attnkit.errors.ConfigError` for bad or ignored
            options.
        spec_class: the :class:`ModelSpec` subclass the family can build for.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    spec_class: ClassVar[type]

    @classmethod
    def build(cls, cfg: Any, spec: ModelSpec) -> nn.Module:
        """The model for `spec`, with the sizes of `cfg` (parameters freshly initialised)."""

    @classmethod
    def label(cls, cfg: Any) -> str:
        """A short human name of the configured model (e.g. its attention), for tables and logs."""

    @classmethod
    def capabilities(cls, cfg: Any, spec: ModelSpec | None = None) -> ModelCapabilities:
        """What the model built from `cfg` can do: decode step by step, attend, return per-layer
        maps, how many heads, which named parts the pictures may show. `spec` (the task's) only
        matters where one config builds different models for different specs (e.g. the
        Transformer over speech frames has no per-layer maps); None means the family's usual
        spec."""


def set_fields(cfg: Any) -> set[str]:
    """Fields of a config dataclass that differ from their defaults (i.e. that the user set)."""
    return {f.name for f in fields(cfg) if getattr(cfg, f.name) != f.default}


def check_dropout(dropout: float) -> None:
    """Raises ConfigError unless 0 <= `dropout` < 1."""
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout must lie in [0, 1), got {dropout}")


FAMILIES: Registry[type] = Registry("model family", plugins="attnkit.families", check=named_class)
