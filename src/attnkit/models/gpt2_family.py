"""The ``gpt2`` model family: :class:`~attnkit.models.gpt2.GPT2LM`, a decoder-only language model
for the ``pretrained-lm`` task (:class:`CausalLMSpec`); its ``model:`` section holds the
checkpoint's sizes, written by ``attnkit import-hf``."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .bert_family import check_heads_and_activation
from .family import FAMILIES
from .gpt2 import GPT2LM
from .specs import ModelSpec

__all__ = ["CausalLMSpec", "GPT2Config", "GPT2Family"]


@dataclass(frozen=True)
class CausalLMSpec(ModelSpec):
    """A pretrained language model's task: token ids in, next-token scores and attention out; the
    sizes are the model's own (``model:``), so the spec carries nothing."""


@dataclass(frozen=True)
class GPT2Config:
    """``model.arch: gpt2``: :class:`attnkit.models.gpt2.GPT2LM`.

    Attributes:
        vocab_size, d_model, n_heads, layers, d_ff: V, D (``n_embd``), Nh (``n_head``), blocks
            (``n_layer``), feed-forward width (``n_inner``, 4 D by default).
        max_positions: the position table's rows, the longest context (``n_positions``).
        eps: LayerNorm epsilon (``layer_norm_epsilon``).
        activation: feed-forward activation (``gelu_tanh`` = GPT-2's ``gelu_new``).
    """

    arch: str = "gpt2"
    vocab_size: int = 50257
    d_model: int = 768
    n_heads: int = 12
    layers: int = 12
    d_ff: int = 3072
    max_positions: int = 1024
    eps: float = 1e-5
    activation: str = "gelu_tanh"

    def check(self) -> None:
        check_positive(self, "vocab_size", "d_model", "n_heads", "layers", "d_ff", "max_positions", section="model")
        check_heads_and_activation(self)
        if not self.eps > 0:
            raise ConfigError(f"model.eps must be > 0, got {self.eps}")


class GPT2Family:
    """GPT-2 language models [Radford19], built from attnkit's causal pre-LN encoder layers."""

    name = "gpt2"
    config_class = GPT2Config
    spec_class = CausalLMSpec

    @classmethod
    def build(cls, cfg: GPT2Config, spec: ModelSpec) -> nn.Module:
        return GPT2LM(
            cfg.vocab_size,
            cfg.d_model,
            cfg.n_heads,
            cfg.layers,
            cfg.d_ff,
            max_positions=cfg.max_positions,
            eps=cfg.eps,
            activation=cfg.activation,
        )

    @classmethod
    def label(cls, cfg: GPT2Config) -> str:
        return f"gpt2-{cfg.layers}x{cfg.d_model}"

    @classmethod
    def capabilities(cls, cfg: GPT2Config, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Every layer's and head's causal self-attention (``attention_maps``); its greedy
        continuation is the task's (``pretrained-lm``), not :mod:`attnkit.decoding`'s."""
        return ModelCapabilities(layer_maps=True, n_heads=cfg.n_heads, explains=True)


FAMILIES.register(
    "gpt2", GPT2Family, "GPT-2 decoder-only language model (causal, pre-LN) for imported checkpoints", "[Radford19]"
)
