"""The ``vit`` model family: :class:`~attnkit.models.VisionTransformer` over image patches
(:class:`~attnkit.models.specs.ImageSpec`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..capabilities import ModelCapabilities
from ..errors import ConfigError
from ..schema import check_positive
from .attention_kernels import check_attention_keys, kernel_settings
from .family import FAMILIES, check_dropout
from .specs import ImageSpec, ModelSpec
from .vit import VIT_ACTIVATIONS, VisionTransformer

__all__ = ["ViTConfig", "ViTFamily"]


@dataclass(frozen=True)
class ViTConfig:
    """``model.arch: vit``: :class:`attnkit.models.VisionTransformer`.

    ``eps``, ``activation`` and ``pooler`` default to attnkit's own ViT; an imported Hugging Face
    ViT sets them (LayerNorm eps 1e-12, its ``hidden_act``, the ``ViTModel`` pooler's width).
    A task without classes (``ImageSpec.n_classes == 0``) gets a model without a head.
    """

    arch: str = "vit"
    patch_size: int = 4  # pixels; must divide the image's height and width
    d_model: int = 64
    n_heads: int = 4
    layers: int = 4
    d_ff: int = 128
    dropout: float = 0.0
    eps: float = 1e-5  # the LayerNorms' epsilon
    activation: str = "gelu"  # the MLP's: gelu | gelu_tanh | relu | silu
    pooler: int = 0  # > 0: tanh(dense) of this width on the class token's state (HF ViTModel's pooler)
    # efficient self-attention (attnkit.models.attention_kernels) over the class token, then the patches
    # row-major: a kernel name and its options, 0 = not set
    attention_kernel: str = "dense"  # dense | window | linear | flex | ... (attnkit.functional.ATTENTION_KERNELS)
    attention_window: int = 0  # window, flex: half-width in tokens (keys within that distance)
    attention_global_tokens: int = 0  # window, flex: the first G positions attend and are attended everywhere
    attention_chunk_size: int = 0  # linear: chunk length of the causal form
    attention_num_features: int = 0  # performer: random features per head
    attention_num_landmarks: int = 0  # nystrom: landmarks per head

    def check(self) -> None:
        check_positive(self, "patch_size", "d_model", "n_heads", "layers", "d_ff", section="model")
        check_dropout(self.dropout)
        if self.d_model % self.n_heads:
            raise ConfigError(f"model.d_model={self.d_model} must be divisible by model.n_heads={self.n_heads}")
        if self.activation not in VIT_ACTIVATIONS:
            raise ConfigError(
                f"model.activation: unknown {self.activation!r}; choose one of: {', '.join(VIT_ACTIVATIONS)}"
            )
        if not self.eps > 0:
            raise ConfigError(f"model.eps must be > 0, got {self.eps}")
        if self.pooler < 0:
            raise ConfigError(f"model.pooler must be >= 0 (0 = no pooler), got {self.pooler}")
        check_attention_keys(self)


class ViTFamily:
    """Vision Transformers over image patches, with attention rollout [Dosovitskiy21], [Abnar20]."""

    name = "vit"
    config_class = ViTConfig
    spec_class = ImageSpec

    @classmethod
    def build(cls, cfg: ViTConfig, spec: ImageSpec) -> nn.Module:
        if spec.height % cfg.patch_size or spec.width % cfg.patch_size:
            raise ConfigError(
                f"model.patch_size={cfg.patch_size} must divide the images' {spec.height} x {spec.width} pixels"
            )
        kernel, options = kernel_settings(cfg)
        return VisionTransformer(
            spec.channels,
            spec.n_classes,
            (spec.height, spec.width),
            patch_size=cfg.patch_size,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            layers=cfg.layers,
            d_ff=cfg.d_ff,
            dropout=cfg.dropout,
            eps=cfg.eps,
            activation=cfg.activation,
            pooler=cfg.pooler,
            attention_kernel=kernel,
            kernel_options=options,
        )

    @classmethod
    def label(cls, cfg: ViTConfig) -> str:
        return "vit"

    @classmethod
    def capabilities(cls, cfg: ViTConfig, spec: ModelSpec | None = None) -> ModelCapabilities:
        """Self-attention over patches (rollout); a classifier, no decoding."""
        return ModelCapabilities(n_heads=cfg.n_heads, explains=True, attention_kernel=cfg.attention_kernel)


FAMILIES.register(
    "vit", ViTFamily, "Vision Transformer over image patches, attention rollout", "[Dosovitskiy21], [Abnar20]"
)
