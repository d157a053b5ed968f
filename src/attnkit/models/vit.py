"""The Vision Transformer [Dosovitskiy21]: an image as a sequence of patches, classified by a
Transformer encoder through a class token.

The image is cut into P x P patches, each linearly embedded (a P x P convolution of stride P,
the same as the flattened-patch projection E of Eq. 1), a learned class token x_class is
prepended, learned 1-D position embeddings E_pos are added (Eq. 1), and L pre-LN encoder blocks
of multi-head self-attention and a GELU MLP (Eq. 2-3) follow; the class token's final state,
layer-normed, goes through a linear head (Eq. 4). The encoder blocks are the text Transformer's
(:class:`attnkit.models.transformer.EncoderLayer`, on :class:`attnkit.nn.MultiHeadAttention`),
so the attention is the core's and every layer's weights come out with ``need_weights=True``;
:func:`attnkit.functional.attention_rollout` combines them [Abnar20].

Differences from the paper: sizes fit 28 x 28 to 60 x 60 grey images (patch 4 to 6, width 64,
a few layers); the head is one linear layer (the paper's pre-training head has a hidden layer,
its fine-tuning head is linear as here); no pre-training.

The same module holds Hugging Face's ViT (``ViTModel``, ``ViTForImageClassification``) weight for
weight (:mod:`attnkit.pretrained.vit`): its LayerNorm ``eps`` (1e-12), its MLP ``activation``, its
optional ``pooler`` (a dense layer and tanh on the class token's state) and a model without a
classification head (``n_classes=0``, ``ViTModel``), which returns the class token's state.
Differences from the Hugging Face implementation: dropout also follows the MLP's activation (as in
the paper's MLP; HF drops only after its second layer), which changes nothing in evaluation; no
interpolation of the position embeddings to other image sizes; no mask token.

References:
    [Dosovitskiy21] A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale. ICLR 2021. arXiv:2010.11929.
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..nn.dropout import Dropout
from .cnn_classifier import ImageClassifierOutput, check_images
from .transformer import EncoderLayer

__all__ = ["VisionTransformer", "VIT_ACTIVATIONS"]

#: the MLP activations of :class:`attnkit.models.transformer.EncoderLayer` a ViT takes
VIT_ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "silu")


class VisionTransformer(nn.Module):
    """ViT classifier over P x P patches [Dosovitskiy21] Sec. 3.1.

    Args:
        in_channels: image channels C.
        n_classes: number of classes.
        image_size: (H, W) in pixels; both divisible by `patch_size`.
        patch_size: patch side P in pixels; T = 1 + (H / P)(W / P) tokens.
        d_model: width D.
        n_heads: heads Nh (Dh = D / Nh).
        layers: encoder blocks L.
        d_ff: MLP hidden width.
        dropout: dropout on embeddings, attention weights and sublayer outputs.
        eps: the LayerNorms' epsilon (HF ViT: 1e-12).
        activation: the MLP's (``gelu``, ``gelu_tanh``, ``relu``, ``silu``).
        attention_kernel: the self-attention's kernel, a name of
            :data:`attnkit.functional.efficient.ATTENTION_KERNELS` (``dense`` by default; the
            tokens are the class token, then the patches row-major: a window is one over that order).
        kernel_options: that kernel's options (``{"window": 7, "global_tokens": 1}``).
        pooler: > 0: a pooler of this width, tanh(W z_L^0 + b), on the class token's state, as
            Hugging Face's ``ViTModel``; the head (if any) then classifies the pooled state.

    With ``n_classes=0`` the model has no head: ``logits`` holds the class token's final state
    (B, D), or the pooled state (B, pooler) with a pooler.

    Raises:
        ValueError: if H or W is not divisible by P, or D by Nh, or for an unknown activation.
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        image_size: tuple[int, int],
        *,
        patch_size: int = 4,
        d_model: int = 64,
        n_heads: int = 4,
        layers: int = 4,
        d_ff: int = 128,
        dropout: float = 0.0,
        eps: float = 1e-5,
        activation: str = "gelu",
        pooler: int = 0,
        attention_kernel: str = "dense",
        kernel_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        h, w = image_size
        if h % patch_size or w % patch_size:
            raise ValueError(f"image size {h} x {w} is not divisible by patch_size={patch_size}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        if activation not in VIT_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of: {', '.join(VIT_ACTIVATIONS)}")
        self.in_channels, self.image_size = in_channels, (h, w)
        self.patch_grid = (h // patch_size, w // patch_size)
        n_patches = self.patch_grid[0] * self.patch_grid[1]
        self.patch_embedding = nn.Conv2d(in_channels, d_model, patch_size, stride=patch_size)  # E, Eq. 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, d_model))  # x_class
        self.positions = nn.Parameter(torch.randn(1, 1 + n_patches, d_model) * 0.02)  # E_pos
        self.dropout = Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(
                d_model,
                n_heads,
                d_ff,
                dropout,
                True,
                None,
                None,
                activation,
                eps=eps,
                kernel=attention_kernel,
                kernel_options=kernel_options,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.pooler = nn.Linear(d_model, pooler) if pooler else None  # HF ViTModel's pooler.dense
        self.head = nn.Linear(pooler or d_model, n_classes) if n_classes else None

    def encode(self, images: Tensor, *, need_weights: bool = False) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The final, layer-normed states of every token (B, T, D) (HF's ``last_hidden_state``):
        token 0 the class token, then the patches row-major; with `need_weights` every layer's
        self-attention (B, Nh, T, T). Raises ValueError for images (B, C, H, W) of another shape
        than the model was built for."""
        check_images(images, self.in_channels, self.image_size)
        x = self.patch_embedding(images).flatten(2).transpose(1, 2)  # (B, N, D), patches row-major
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, T, D)
        x = self.dropout(x + self.positions)  # Eq. 1
        weights = []
        for layer in self.layers:
            x, w = layer(x, None, None, need_weights)  # Eq. 2-3
            weights += [w] if need_weights else []
        return self.norm(x), tuple(weights)  # LN(z_L), Eq. 4 for the class token

    def forward(self, images: Tensor, *, need_weights: bool = False) -> ImageClassifierOutput:
        """Classify images (B, C, H, W); `need_weights` returns every layer's self-attention
        (B, Nh, T, T), token 0 the class token, then the patches row-major. Without a head
        (``n_classes=0``) ``logits`` is the class token's (pooled) state. Raises ValueError
        for images of another shape than the model was built for."""
        states, weights = self.encode(images, need_weights=need_weights)
        y = states[:, 0]  # Eq. 4: y = LN(z_L^0), (B, D)
        if self.pooler is not None:
            y = torch.tanh(self.pooler(y))  # HF ViTPooler
        logits = self.head(y) if self.head is not None else y
        return ImageClassifierOutput(logits, layer_weights=weights, patch_grid=self.patch_grid)
