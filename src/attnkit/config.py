"""Run configuration: frozen dataclasses loaded strictly from YAML plus ``key=value`` overrides.

Unknown keys, wrong types, out-of-range values and unknown mechanism names raise
:class:`ConfigError` with a one-line message naming the key and the valid choices.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from .io import atomic_write_text

__all__ = ["ConfigError", "DataConfig", "ModelConfig", "TrainConfig", "RunConfig", "load_config",
           "parse_overrides", "save_config"]

DEFAULT_LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "pt_BR", "nl_NL",
                   "ru_RU", "zh_CN", "ja_JP")


class ConfigError(ValueError):
    """A configuration problem the user can fix."""


@dataclass(frozen=True)
class DataConfig:
    """What to train on. For the date task: sizes of the generated splits and their locales; for
    translation: the corpus folder and its subword vocabularies."""

    task: str = "dates"
    n_train: int = 40000  # dates only
    n_dev: int = 1000  # dev examples validated on (translation: the first n_dev of the corpus's dev split)
    n_test: int = 2000  # dates only
    locales: tuple[str, ...] = DEFAULT_LOCALES  # dates only
    max_source_len: int = 64  # dates: characters, excluding the locale tag; translation: subword tokens
    seed: int = 1234
    corpus: str = ""  # translation: folder with {train,dev,test}.src/.tgt (or .tsv)
    subword: str = "bpe"  # translation: bpe | unigram (SentencePiece)
    vocab_size: int = 8000  # translation: subword vocabulary size per side (joint: shared)
    joint_vocab: bool = False  # translation: one subword model for both sides

    _TRANSLATION_ONLY = ("corpus", "subword", "vocab_size", "joint_vocab")

    def check(self) -> None:
        from .tasks import TASKS

        if self.task not in TASKS:
            raise ConfigError(f"data.task: unknown task {self.task!r}; choose one of: "
                              f"{', '.join(TASKS.names())}")
        for name in ("n_train", "n_dev", "n_test", "max_source_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if not self.locales:
            raise ConfigError("data.locales must name at least one locale")
        TASKS.get(self.task).check_config(self)


@dataclass(frozen=True)
class ModelConfig:
    """Which network, by name, and its sizes (see :class:`attnkit.models.Seq2Seq`)."""

    arch: str = "rnn"  # rnn | transformer
    # rnn
    attention: str = "bahdanau"
    cell: str = "gru"
    emb_dim: int = 32
    hidden_dim: int = 64
    bidirectional: bool = True
    attn_dim: int = 64
    input_feeding: bool = True
    normaliser: str = "softmax"  # alignment function (attnkit list normalisers)
    local_window: int = 10  # half-width D of local attention windows, in source tokens
    init: str = "torch"  # torch (PyTorch's defaults) | paper (the decoder's paper's initialisation)
    # both
    enc_layers: int = 1
    dropout: float = 0.0
    # transformer
    d_model: int = 128
    n_heads: int = 4
    num_kv_heads: int = 0  # 0 = as many as n_heads; fewer = grouped-query attention
    dec_layers: int = 1  # transformer decoder layers; for rnn, layers of luong-stacked
    d_ff: int = 512
    norm: str = "pre"  # pre-LN or post-LN residual blocks
    positional: str = "sinusoidal"
    tie_embeddings: bool = False

    _RNN_ONLY = ("attention", "cell", "emb_dim", "hidden_dim", "bidirectional", "attn_dim", "input_feeding",
                 "normaliser", "local_window", "init")
    _TRANSFORMER_ONLY = ("d_model", "n_heads", "num_kv_heads", "d_ff", "norm", "positional", "tie_embeddings")

    def check(self) -> None:
        if self.arch not in ("rnn", "transformer"):
            raise ConfigError(f"model.arch: unknown architecture {self.arch!r}; choose one of: rnn, transformer")
        unused = self._TRANSFORMER_ONLY if self.arch == "rnn" else self._RNN_ONLY
        for name in unused:
            if getattr(self, name) != getattr(ModelConfig, name):
                raise ConfigError(f"model.{name} does not apply to model.arch={self.arch}; remove it")
        for name in ("enc_layers",):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {self.dropout}")
        (self._check_rnn if self.arch == "rnn" else self._check_transformer)()

    def _check_rnn(self) -> None:
        from .models import DECODERS

        if self.attention not in DECODERS:
            raise ConfigError(f"model.attention: unknown attention {self.attention!r}; choose one "
                              f"of: {', '.join(DECODERS.names())}")
        from .functional import NORMALISERS

        if self.normaliser not in NORMALISERS:
            raise ConfigError(f"model.normaliser: unknown {self.normaliser!r}; choose one of: "
                              f"{', '.join(NORMALISERS.names())}")
        if self.normaliser == "reinforce" and not self.attention.startswith("bahdanau"):
            raise ConfigError("model.normaliser=reinforce is trained through Bahdanau attention; use "
                              "model.attention=bahdanau, or normaliser gumbel/hard")
        if self.attention == "none" and self.normaliser != "softmax":
            raise ConfigError("model.normaliser does not apply to model.attention=none (no alignment); remove it")
        if self.dec_layers < 1 or (self.dec_layers != 1 and self.attention != "luong-stacked"):
            raise ConfigError("model.dec_layers > 1 needs model.attention=luong-stacked for RNN models "
                              f"(got dec_layers={self.dec_layers}, attention={self.attention})")
        if self.attention == "luong-stacked" and (not self.input_feeding or self.normaliser != "softmax"):
            raise ConfigError("model.attention=luong-stacked feeds h~ back and uses softmax; remove "
                              "model.input_feeding / model.normaliser")
        local = self.attention.startswith("luong-local")
        if not local and self.local_window != ModelConfig.local_window:
            raise ConfigError("model.local_window applies only to model.attention=luong-local-m/-p; remove it")
        if local and (self.local_window < 1 or self.normaliser != "softmax"):
            raise ConfigError("local attention needs model.local_window >= 1 and model.normaliser=softmax")
        if self.cell not in ("gru", "lstm"):
            raise ConfigError(f"model.cell: unknown cell {self.cell!r}; choose one of: gru, lstm")
        if self.init not in ("torch", "paper"):
            raise ConfigError(f"model.init: unknown {self.init!r}; choose one of: torch, paper")
        for name in ("emb_dim", "hidden_dim", "attn_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.attention == "luong-dot" and self.bidirectional:
            raise ConfigError("model.attention=luong-dot needs equal decoder and annotation widths; "
                              "set model.bidirectional=false or use luong-general")

    def _check_transformer(self) -> None:
        from .nn.positional import POSITIONAL

        for name in ("d_model", "n_heads", "dec_layers", "d_ff"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if self.num_kv_heads < 0 or (self.num_kv_heads and self.n_heads % self.num_kv_heads):
            raise ConfigError(f"model.num_kv_heads={self.num_kv_heads} must divide model.n_heads={self.n_heads} "
                              "(0 = one key/value head per query head)")
        if (self.d_model // self.n_heads) % 2 and self.positional == "rope":
            raise ConfigError("model.positional=rope needs an even head width d_model / n_heads")
        if self.norm not in ("pre", "post"):
            raise ConfigError(f"model.norm: unknown {self.norm!r}; choose one of: pre, post")
        if self.positional not in POSITIONAL:
            raise ConfigError(f"model.positional: unknown {self.positional!r}; choose one of: "
                              f"{', '.join(POSITIONAL.names())}")


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
    reinforce_weight: float = 1.0  # lambda_r of hard attention trained with REINFORCE (normaliser: reinforce)
    entropy_weight: float = 0.01  # lambda_e, entropy bonus of REINFORCE
    baseline_decay: float = 0.9  # moving-average decay of the REINFORCE reward baseline
    batch_tokens: int = 0  # > 0: batches of about this many padded tokens, by length (batch_size is then unused)
    max_minutes: float = 0.0  # > 0: also stop after this much wall-clock training time (validating at the end)
    precision: str = "fp32"  # fp32 | bf16: bfloat16 autocast for matrix multiplies (fp32 weights, loss and optimiser)

    def check(self) -> None:
        for name in ("max_steps", "batch_size", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.lr_min <= self.lr):
            raise ConfigError(f"train.lr must be > 0 and 0 <= train.lr_min <= train.lr, got "
                              f"lr={self.lr}, lr_min={self.lr_min}")
        if self.clip_norm <= 0:
            raise ConfigError(f"train.clip_norm must be > 0, got {self.clip_norm}")
        if self.threads < 0:
            raise ConfigError(f"train.threads must be >= 0, got {self.threads}")
        if self.schedule not in ("cosine", "inverse-sqrt", "constant"):
            raise ConfigError(f"train.schedule: unknown {self.schedule!r}; choose one of: cosine, inverse-sqrt, "
                              "constant")
        if self.warmup_steps < 0 or (self.schedule == "inverse-sqrt" and self.warmup_steps < 1):
            raise ConfigError(f"train.warmup_steps must be >= 0 (>= 1 for inverse-sqrt), got {self.warmup_steps}")
        if self.reinforce_weight < 0 or self.entropy_weight < 0 or not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError("train.reinforce_weight and train.entropy_weight must be >= 0 and "
                              "train.baseline_decay in [0, 1)")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"train.precision: unknown {self.precision!r}; choose one of: fp32, bf16")
        if self.batch_tokens < 0 or self.max_minutes < 0:
            raise ConfigError(f"train.batch_tokens and train.max_minutes must be >= 0, got {self.batch_tokens} "
                              f"and {self.max_minutes}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"train.label_smoothing must lie in [0, 1), got {self.label_smoothing}")


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> "RunConfig":
        self.data.check()
        self.model.check()
        self.train.check()
        return self

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            return list(v) if isinstance(v, tuple) else v
        return {f.name: {k: plain(v) for k, v in dataclasses.asdict(getattr(self, f.name)).items()}
                for f in fields(self)}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        raise AssertionError("optional config fields are not used")
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise AssertionError(f"unsupported config type {hint}")


def _build(cls: type, prefix: str, raw: Mapping[str, Any]) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix or 'config'} must be a mapping of keys to values, got {raw!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        full = f"{prefix}{key}"
        if key not in valid:
            raise ConfigError(f"unknown config key {full!r}; valid keys here: {', '.join(valid)}")
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], f"{full}.", value or {})
        else:
            kwargs[key] = _coerce(full, value, hints[key])
    return cls(**kwargs)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["model.hidden_dim=128", ...]`` -> nested dict; values are parsed as YAML scalars.

    Raises:
        ConfigError: for an item without ``=`` or a key without a section.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r} must look like section.key=value, "
                              "e.g. model.hidden_dim=128")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        *sections, last = key.split(".")
        node = out
        for s in sections:
            node = node.setdefault(s, {})
        node[last] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        merged[k] = _merge(merged[k], v) if isinstance(v, Mapping) and isinstance(merged.get(k), Mapping) else v
    return merged


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML run config (or the defaults when `path` is None), apply overrides, validate.

    Raises:
        ConfigError: for a missing or unreadable file, invalid YAML, or an invalid value.
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
        if not isinstance(raw, Mapping):
            raise ConfigError(f"config file {path} must hold a mapping (data:, model:, train:)")
    raw = _merge(dict(raw), parse_overrides(overrides))
    return _build(RunConfig, "", raw).check()


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))
