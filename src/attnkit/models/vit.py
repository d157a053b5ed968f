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

References:
    [Dosovitskiy21] A. Dosovitskiy et al. An Image is Worth 16x16 Words: Transformers for Image
    Recognition at Scale. ICLR 2021. arXiv:2010.11929.
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cnn_classifier import ImageClassifierOutput, check_images
from .transformer import EncoderLayer

__all__ = ["VisionTransformer"]


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

    Raises:
        ValueError: if H or W is not divisible by P, or D by Nh.
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
    ) -> None:
        super().__init__()
        h, w = image_size
        if h % patch_size or w % patch_size:
            raise ValueError(f"image size {h} x {w} is not divisible by patch_size={patch_size}")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.in_channels, self.image_size = in_channels, (h, w)
        self.patch_grid = (h // patch_size, w // patch_size)
        n_patches = self.patch_grid[0] * self.patch_grid[1]
        self.patch_embedding = nn.Conv2d(in_channels, d_model, patch_size, stride=patch_size)  # E, Eq. 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, d_model))  # x_class
        self.positions = nn.Parameter(torch.randn(1, 1 + n_patches, d_model) * 0.02)  # E_pos
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, True, None, None, "gelu") for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, images: Tensor, *, need_weights: bool = False) -> ImageClassifierOutput:
        """Classify images (B, C, H, W); `need_weights` returns every layer's self-attention
        (B, Nh, T, T), token 0 the class token, then the patches row-major. Raises ValueError
        for images of another shape than the model was built for."""
        check_images(images, self.in_channels, self.image_size)
        x = self.patch_embedding(images).flatten(2).transpose(1, 2)  # (B, N, D), patches row-major
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, T, D)
        x = self.dropout(x + self.positions)
        weights = []
        for layer in self.layers:
            x, w = layer(x, None, None, need_weights)
            weights += [w] if need_weights else []
        logits = self.head(self.norm(x[:, 0]))  # Eq. 4: y = LN(z_L^0)
        return ImageClassifierOutput(logits, layer_weights=tuple(weights), patch_grid=self.patch_grid)
