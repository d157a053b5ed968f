"""Strict loading of frozen dataclasses from plain mappings (YAML), and ``key=value`` overrides.

Unknown keys, wrong types and bad values raise :class:`attnkit.errors.ConfigError` with a
one-line message naming the key and the valid choices. Config sections of tasks and model
families are ordinary frozen dataclasses with a ``check()`` method; this module knows nothing of
any of them.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
from dataclasses import fields
from typing import Any, Mapping, Sequence

import yaml

from .errors import ConfigError, did_you_mean

__all__ = [
    "build_dataclass",
    "parse_overrides",
    "merge",
    "plain_dict",
    "check_positive",
    "short_repr",
    "MAX_CONFIG_INT",
]

#: the largest integer a config value may hold (a 64-bit signed integer): sizes, steps and seeds
#: beyond it are mistakes, and formatting a 5,000-digit number in a message is slow
MAX_CONFIG_INT = 2**63 - 1

_REPR = reprlib.Repr()  # keyword arguments only from Python 3.12
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 6, 6, 2


def short_repr(value: Any) -> str:
    """`value`'s repr bounded to about 60 characters (nested containers cut at depth 2), for
    error messages: a config of a billion nested aliases must not be formatted whole."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_CONFIG_INT:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"  # str() may refuse it
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:76] + " ..."


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """`value` as the config type `hint`; ints are bounded by :data:`MAX_CONFIG_INT` and floats
    must be finite (no config value means infinity or "not a number")."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {short_repr(value)}")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise AssertionError("optional config fields are not used")
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {short_repr(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {short_repr(value)}")
        if abs(value) > MAX_CONFIG_INT:
            raise ConfigError(f"{key} must be an integer of at most {MAX_CONFIG_INT}, got {short_repr(value)}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {short_repr(value)}")
        if isinstance(value, int) and abs(value) > MAX_CONFIG_INT:
            raise ConfigError(f"{key} must be a finite number, got {short_repr(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {short_repr(value)}")
        return value
    raise AssertionError(f"unsupported config type {hint}")


def build_dataclass(cls: type, prefix: str, raw: Mapping[str, Any], *, context: str = "") -> Any:
    """An instance of the frozen dataclass `cls` from `raw`, strictly.

    Args:
        cls: a dataclass whose fields are bool, int, float, str, tuples of those, or dataclasses.
        prefix: dotted path of `raw` in the whole config, for messages (e.g. ``"model."``).
        raw: the mapping read from YAML.
        context: appended to the unknown-key message (e.g. ``" for model.arch=rnn"``).

    Raises:
        ConfigError: for a key `cls` has no field for (the message lists the valid keys), or a
            value of the wrong type.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{prefix.rstrip('.') or 'config'} must be a mapping of keys to values, got {short_repr(raw)}"
        )
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        full = f"{prefix}{key}"
        if key not in valid:
            raise ConfigError(
                f"unknown config key {short_repr(full)}{context}; valid keys here: {', '.join(valid)}"
                + did_you_mean(full, [f"{prefix}{name}" for name in valid])
            )
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = build_dataclass(hints[key], f"{full}.", value or {})
        else:
            kwargs[key] = _coerce(full, value, hints[key])
    return cls(**kwargs)


def plain_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as a YAML-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["model.hidden_dim=128", ...]`` -> nested dict; values are parsed as YAML scalars.

    Raises:
        ConfigError: for an item without ``=`` or a key without a section.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(
                f"override {short_repr(item)} must look like section.key=value, e.g. model.hidden_dim=128"
            )
        try:
            value = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError):  # ValueError: an integer over Python's 4,300-digit limit
            value = text
        *sections, last = key.split(".")
        node = out
        for s in sections:
            node = node.setdefault(s, {})
        node[last] = value
    return out


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, recursively for nested mappings."""
    merged = dict(base)
    for k, v in extra.items():
        merged[k] = merge(merged[k], v) if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping) else v
    return merged


def check_positive(cfg: Any, *names: str, section: str) -> None:
    """Raise ConfigError for the first of the fields `names` of `cfg` below 1.

    Args:
        cfg: a config dataclass.
        names: its integer fields that must be >= 1.
        section: the config section, for the message (``"model"``, ``"data"``).
    """
    for name in names:
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{section}.{name} must be >= 1, got {getattr(cfg, name)}")
