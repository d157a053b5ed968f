"""The ``model.attention_*`` keys: one set, shared by the families whose self-attention may use an
efficient kernel (``transformer``, ``vit``, ``tagger-transformer``).

::

    model:
      attention_kernel: window     # a name of attnkit.functional.efficient.ATTENTION_KERNELS
      attention_window: 128        # the kernel's option `window`
      attention_global_tokens: 1   # ... `global_tokens`

``attention_kernel`` names the kernel (``dense``, the default, keeps the model as it was, bit for
bit). Every other key is ``attention_<option>`` for one option of the kernels; 0 means "not set"
(the kernel's default). Setting a key the chosen kernel does not take is a one-line
:class:`~attnkit.errors.ConfigError`, as is an unknown kernel name (with a did-you-mean) or a
required option left at 0.

A family's config declares the keys as fields (defaults below) and calls :func:`check_attention_keys`
in its ``check`` and :func:`kernel_settings` in its ``build``.
"""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import ConfigError
from ..functional.efficient import ATTENTION_KERNELS
from ..functional.kernels import AttentionKernel

__all__ = ["ATTENTION_KEYS", "AttentionKeys", "check_attention_keys", "kernel_settings"]

ATTENTION_KEYS: dict[str, str] = {
    "attention_window": "window",  # sliding window / flex: half-width in tokens
    "attention_global_tokens": "global_tokens",  # sliding window / flex: the first G positions are global
    "attention_chunk_size": "chunk_size",  # linear attention: chunk length of the causal form
    "attention_num_features": "num_features",  # Performer: random features per head
    "attention_num_landmarks": "num_landmarks",  # Nyströmformer: landmarks per head
}
"""Config key -> the kernel option it sets."""


class AttentionKeys(Protocol):
    """The fields a family's config declares (each an int, 0 = not set, except the name)."""

    @property
    def attention_kernel(self) -> str: ...

    @property
    def attention_window(self) -> int: ...

    @property
    def attention_global_tokens(self) -> int: ...

    @property
    def attention_chunk_size(self) -> int: ...

    @property
    def attention_num_features(self) -> int: ...

    @property
    def attention_num_landmarks(self) -> int: ...


def _values(cfg: AttentionKeys) -> dict[str, int]:
    return {
        "attention_window": cfg.attention_window,
        "attention_global_tokens": cfg.attention_global_tokens,
        "attention_chunk_size": cfg.attention_chunk_size,
        "attention_num_features": cfg.attention_num_features,
        "attention_num_landmarks": cfg.attention_num_landmarks,
    }


def _kernel(cfg: AttentionKeys) -> AttentionKernel:
    try:
        return ATTENTION_KERNELS.get(cfg.attention_kernel)
    except ValueError as err:
        raise ConfigError(f"model.attention_kernel: {err}") from None


def check_attention_keys(cfg: AttentionKeys, *, positional: str = "") -> None:
    """Check the ``model.attention_*`` keys of a config.

    Args:
        cfg: the family's config.
        positional: its ``model.positional``, if it has one: ALiBi's score bias needs the dense kernel.

    Raises:
        ConfigError: for an unknown kernel (with a did-you-mean), a negative value, a key the
            kernel does not take, a required option left at 0, or ALiBi with another kernel.
    """
    kernel = _kernel(cfg)
    if positional == "alibi" and cfg.attention_kernel != "dense":
        raise ConfigError(
            f"model.positional=alibi adds a bias to the scores, which model.attention_kernel={cfg.attention_kernel} "
            "does not take; choose another positional encoding or attention_kernel=dense"
        )
    takes = [key for key, option in ATTENTION_KEYS.items() if option in kernel.options]
    for key, value in _values(cfg).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"model.{key} must be an integer >= 0 (0 = not set), got {value!r}")
        if value and ATTENTION_KEYS[key] not in kernel.options:
            raise ConfigError(
                f"model.{key} does not apply to model.attention_kernel={cfg.attention_kernel}; "
                f"it takes: {', '.join('model.' + k for k in takes) or 'none of the attention_* keys'}"
            )
    for key, option in ATTENTION_KEYS.items():
        if option in kernel.required and not _values(cfg)[key]:
            raise ConfigError(f"model.attention_kernel={cfg.attention_kernel} needs model.{key} > 0")


def kernel_settings(cfg: AttentionKeys) -> tuple[str, dict[str, Any]]:
    """The kernel's name and its options (the keys set, by option name), for ``MultiHeadAttention``."""
    _kernel(cfg)
    return cfg.attention_kernel, {ATTENTION_KEYS[key]: value for key, value in _values(cfg).items() if value}
