"""Run configuration: a ``data:`` section owned by the task, a ``model:`` section owned by the
model family, and ``train:``; loaded strictly from YAML plus ``key=value`` overrides.

``data.task`` selects the task plug-in (:data:`attnkit.tasks.TASKS`) and the rest of ``data:`` is
loaded into its ``config_class``; ``model.arch`` (default: the task's ``default_family``) selects
the family (:data:`attnkit.models.FAMILIES`) likewise. Unknown keys, wrong types, out-of-range
values, unknown names and options the chosen model would ignore raise :class:`ConfigError` with a
one-line message naming the key and the valid choices. Nothing here names a task or a family.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence, cast

import yaml

from .errors import ConfigError, did_you_mean
from .io import atomic_write_text
from .models import FAMILIES, ModelFamily
from .schema import build_dataclass, merge, parse_overrides, plain_dict, short_repr
from .tasks import TASKS, Task

__all__ = [
    "ConfigError",
    "TrainConfig",
    "RunConfig",
    "load_config",
    "parse_overrides",
    "save_config",
    "config_from_dict",
    "task_of",
    "family_of",
]

DEFAULT_TASK = "dates"

log = logging.getLogger(__name__)

#: Keys that moved to another section: (old section, key) -> (new section, the value it had by default
#: in the old section). Configs and run folders written before still load: the key moves (with a
#: one-line deprecation notice) when the new section's owner takes it, and is dropped otherwise
#: (silently when it holds the old default, which had no effect there).
MOVED_KEYS: dict[tuple[str, str], tuple[str, Any]] = {
    ("data", "frontend"): ("model", "pyramid"),
    ("train", "reinforce_weight"): ("model", 1.0),
    ("train", "entropy_weight"): ("model", 0.01),
    ("train", "baseline_decay"): ("model", 0.9),
}


@dataclass(frozen=True)
class TrainConfig:
    """How to train: Adam, teacher forcing, clipping, periodic validation, early stopping."""

    max_steps: int = 1500
    batch_size: int = 128
    lr: float = 0.003
    lr_min: float = 0.0003  # cosine decay from lr to lr_min over max_steps
    clip_norm: float = 1.0
    eval_every: int = 250
    patience: int = 3  # validations without improvement before stopping early
    seed: int = 1234
    threads: int = 0  # torch threads; 0 = leave PyTorch's default
    schedule: str = "cosine"  # cosine | inverse-sqrt | constant
    warmup_steps: int = 0  # linear warm-up before the schedule
    label_smoothing: float = 0.0
    batch_tokens: int = 0  # > 0: batches of about this many padded tokens, by length (batch_size is then unused)
    max_minutes: float = 0.0  # > 0: also stop after this much wall-clock training time (validating at the end)
    precision: str = "fp32"  # fp32 | bf16: bfloat16 autocast for matrix multiplies (fp32 weights, loss and optimiser)
    bucket: int = 0  # > 0: batch_size batches drawn from pools of bucket * batch_size items sorted by size
    tensorboard: bool = False  # log loss, lr, dev metrics and attention pictures into RUN/tensorboard/
    init_from: str = ""  # a run folder: start from its tensors whose names and shapes match (fine-tuning)

    def check(self) -> None:
        for name in ("max_steps", "batch_size", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.lr_min <= self.lr):
            raise ConfigError(
                f"train.lr must be > 0 and 0 <= train.lr_min <= train.lr, got lr={self.lr}, lr_min={self.lr_min}"
            )
        if self.clip_norm <= 0:
            raise ConfigError(f"train.clip_norm must be > 0, got {self.clip_norm}")
        if self.threads < 0:
            raise ConfigError(f"train.threads must be >= 0, got {self.threads}")
        if self.schedule not in ("cosine", "inverse-sqrt", "constant"):
            raise ConfigError(
                f"train.schedule: unknown {short_repr(self.schedule)}; choose one of: cosine, inverse-sqrt, constant"
            )
        if self.warmup_steps < 0 or (self.schedule == "inverse-sqrt" and self.warmup_steps < 1):
            raise ConfigError(f"train.warmup_steps must be >= 0 (>= 1 for inverse-sqrt), got {self.warmup_steps}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"train.precision: unknown {short_repr(self.precision)}; choose one of: fp32, bf16")
        if self.bucket < 0:
            raise ConfigError(f"train.bucket must be >= 0, got {self.bucket}")
        if self.batch_tokens < 0 or self.max_minutes < 0:
            raise ConfigError(
                f"train.batch_tokens and train.max_minutes must be >= 0, got {self.batch_tokens} and {self.max_minutes}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"train.label_smoothing must lie in [0, 1), got {self.label_smoothing}")


def _task(name: str) -> type[Task]:
    # a registered class is a task plug-in by declaration (its class attributes and classmethods
    # are those of the Task protocol); the registry holds plain classes, so say it once here
    return cast("type[Task]", TASKS.get(name))


def _family(name: str) -> type[ModelFamily]:
    # likewise: a class registered in FAMILIES is a ModelFamily by declaration
    return cast("type[ModelFamily]", FAMILIES.get(name))


def task_of(cfg: "RunConfig") -> type[Task]:
    """The task class the config names."""
    return _task(cfg.data.task)


def family_of(cfg: "RunConfig") -> type[ModelFamily]:
    """The model family class the config names."""
    return _family(cfg.model.arch)


@dataclass(frozen=True)
class RunConfig:
    """A whole run: ``data`` (the task's config section), ``model`` (the family's), ``train``."""

    data: Any = field(default_factory=lambda: _task(DEFAULT_TASK).config_class())
    model: Any = field(default_factory=lambda: _family(_task(DEFAULT_TASK).default_family).config_class())
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> "RunConfig":
        """Every section's own checks, then that the family can model the task.

        Raises:
            ConfigError: for the first problem found.
        """
        self.data.check()
        self.model.check()
        self.train.check()
        task, family = task_of(self), family_of(self)
        if not issubclass(task.spec_class, family.spec_class):
            fits = [e.name for e in FAMILIES if issubclass(task.spec_class, _family(e.name).spec_class)]
            raise ConfigError(
                f"model.arch={self.model.arch} cannot model data.task={self.data.task}; "
                f"choose one of: {', '.join(fits) or 'none registered'}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data; options the model ignores are left out."""
        model = plain_dict(self.model)
        for name in getattr(self.model, "ignored_fields", lambda: set())():
            model.pop(name, None)
        return {"data": plain_dict(self.data), "model": model, "train": plain_dict(self.train)}


def _section(raw: Any, name: str) -> dict[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping of keys to values, got {short_repr(value)}")
    return dict(value)


def config_from_dict(raw: Mapping[str, Any], *, legacy: bool = False) -> RunConfig:
    """A checked :class:`RunConfig` from plain data (as read from YAML).

    Args:
        raw: ``{"data": {...}, "model": {...}, "train": {...}}``; missing sections take defaults.
        legacy: convert a config written by attnkit 0.1 run folders, whose ``data:`` and
            ``model:`` sections held every field of every task and architecture: fields foreign
            to the chosen task or family, or ignored by the chosen model, are dropped when they
            hold the old defaults (they had no effect).

    Raises:
        ConfigError: for any invalid key or value.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("a config must hold a mapping (data:, model:, train:)")
    unknown = sorted(set(raw) - {"data", "model", "train"})
    if unknown:
        close = did_you_mean(unknown[0], ("data", "model", "train"))
        raise ConfigError(f"unknown config section {short_repr(unknown[0])}; valid sections: data, model, train{close}")
    data, model = _section(raw, "data"), _section(raw, "model")
    try:
        task = _task(data.get("task", DEFAULT_TASK))
    except ValueError as err:
        raise ConfigError(f"data.task: {err}") from None
    data.setdefault("task", task.name)
    model.setdefault("arch", task.default_family)
    try:
        family = _family(model["arch"])
    except ValueError as err:
        raise ConfigError(f"model.arch: {err}") from None
    sections = {"data": data, "model": model, "train": _section(raw, "train")}
    moved = _move_keys(sections, {"data": task.config_class, "model": family.config_class, "train": TrainConfig})
    if legacy:
        data = _drop_legacy(data, task.config_class, _LEGACY_DATA)
        model = _drop_legacy(model, family.config_class, _LEGACY_MODEL)
    _check_foreign(data, task.config_class, TASKS, "data", "task", task.name)
    _check_foreign(model, family.config_class, FAMILIES, "model", "arch", family.name)
    data_cfg = build_dataclass(task.config_class, "data.", data, context=f" for data.task={task.name}")
    model_cfg = build_dataclass(family.config_class, "model.", model, context=f" for model.arch={family.name}")
    if (legacy or moved) and hasattr(model_cfg, "ignored_fields"):
        # options the chosen model ignores had no effect in old configs: leave them out
        ignored = model_cfg.ignored_fields()
        for name in ignored & (set(model) if legacy else set(moved)):
            model.pop(name, None)
        for name in ignored & set(moved):
            moved[name] = moved[name][:2] + (False,)
        model_cfg = build_dataclass(family.config_class, "model.", model)
    _note_moved(moved)
    train_cfg = build_dataclass(TrainConfig, "train.", sections["train"])
    return RunConfig(data_cfg, model_cfg, train_cfg).check()


def _move_keys(sections: dict[str, dict[str, Any]], owners: Mapping[str, type]) -> dict[str, tuple[str, Any, bool]]:
    """Move the :data:`MOVED_KEYS` found in their old section (whose owner no longer takes them)
    to their new one, in place. Returns key -> (old section, value, whether it takes effect):
    False for a key the new section's owner does not take (dropped here)."""
    moved = {}
    for (old, key), (new, _) in MOVED_KEYS.items():
        if key not in sections[old] or key in {f.name for f in fields(owners[old])}:
            continue
        value = sections[old].pop(key)
        used = key in {f.name for f in fields(owners[new])} and key not in sections[new]
        if used:
            sections[new][key] = value
        moved[key] = (old, value, used)
    return moved


def _note_moved(moved: Mapping[str, tuple[str, Any, bool]]) -> None:
    """One deprecation notice for the moved keys; keys without effect that held their old
    default (as every resolved config of a run wrote them) are dropped silently."""
    notes = []
    for key, (old, value, used) in moved.items():
        new, old_default = MOVED_KEYS[(old, key)]
        if used:
            notes.append(f"{old}.{key} is now {new}.{key}")
        elif _plain(value) != _plain(old_default):
            notes.append(
                f"{old}.{key}={short_repr(value)} is ignored (it is {new}.{key} now, which this model does not use)"
            )
    if notes:
        log.warning("deprecated config keys: %s; write them there", "; ".join(notes))


def _check_foreign(section: Mapping[str, Any], cls: type, registry, name: str, selector: str, chosen: str) -> None:
    """ConfigError for a key that belongs to another registered task or family than the chosen one."""
    valid = {f.name for f in fields(cls)}
    for key in section:
        if key in valid:
            continue
        owners = [e.name for e in registry if key in {f.name for f in fields(e.obj.config_class)}]
        if owners:
            raise ConfigError(
                f"{name}.{key} does not apply to {name}.{selector}={chosen}; remove it "
                f"(it is an option of {name}.{selector}={'/'.join(owners)})"
            )


def _drop_legacy(section: dict[str, Any], cls: type, old_defaults: Mapping[str, Any]) -> dict[str, Any]:
    valid = {f.name for f in fields(cls)}
    return {
        k: v for k, v in section.items() if k in valid or k not in old_defaults or _plain(v) != _plain(old_defaults[k])
    }


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, (list, tuple)) else v


# The union sections of attnkit 0.1 (before task and family plug-ins), for `legacy=True`.
_LEGACY_DATA = {
    "task": "dates",
    "n_train": 40000,
    "n_dev": 1000,
    "n_test": 2000,
    "max_source_len": 64,
    "locales": ["en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL", "ru_RU", "zh_CN", "ja_JP"],
    "seed": 1234,
    "corpus": "",
    "subword": "bpe",
    "vocab_size": 8000,
    "joint_vocab": False,
}
_LEGACY_MODEL = {
    "arch": "rnn",
    "attention": "bahdanau",
    "cell": "gru",
    "emb_dim": 32,
    "hidden_dim": 64,
    "bidirectional": True,
    "attn_dim": 64,
    "input_feeding": True,
    "normaliser": "softmax",
    "local_window": 10,
    "enc_layers": 1,
    "dropout": 0.0,
    "d_model": 128,
    "n_heads": 4,
    "num_kv_heads": 0,
    "dec_layers": 1,
    "d_ff": 512,
    "norm": "pre",
    "positional": "sinusoidal",
    "tie_embeddings": False,
}


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), *, legacy: bool = False) -> RunConfig:
    """Read a YAML run config (or the defaults when `path` is None), apply overrides, validate.

    A file without ``data.task`` configures the default task (``dates``), and says so in the log;
    an empty file (nothing but comments, ``null`` or ``{}``) with no overrides is refused: it is
    far more often a truncated or wrong file than a wish to train the defaults.

    Args:
        path: the YAML file.
        overrides: ``section.key=value`` items, applied after the file.
        legacy: read a run folder's config written by attnkit 0.1 (see :func:`config_from_dict`).

    Raises:
        ConfigError: for a missing, unreadable or empty file, invalid YAML, or an invalid value.
    """
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found") from None
        except (yaml.YAMLError, UnicodeDecodeError, IsADirectoryError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ConfigError(f"config file {path} is not valid YAML: {first}") from None
        except ValueError:  # YAML's int() of a number over Python's 4,300-digit limit
            raise ConfigError(
                f"config file {path} holds a number of over 4,300 digits; config integers are at most 2**63 - 1"
            ) from None
        if not isinstance(raw, Mapping):
            raise ConfigError(f"config file {path} must hold a mapping (data:, model:, train:)")
        if not raw and not overrides:  # an empty or truncated file, or the wrong one: not "train the defaults"
            raise ConfigError(
                f"config file {path} is empty; give at least data.task (e.g. `data: {{task: {DEFAULT_TASK}}}`) "
                "or start from a file in configs/"
            )
    raw = merge(dict(raw), parse_overrides(overrides))
    data = raw.get("data")
    if path is not None and not (isinstance(data, Mapping) and "task" in data):
        log.info("no data.task in %s: training the default task, %s", path, DEFAULT_TASK)
    return config_from_dict(raw, legacy=legacy)


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))
