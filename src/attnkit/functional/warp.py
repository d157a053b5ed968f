"""Affine warping of feature maps: the grid generator and sampler of a spatial transformer.

References:
    [Jaderberg15] M. Jaderberg, K. Simonyan, A. Zisserman, K. Kavukcuoglu. Spatial Transformer
    Networks. NeurIPS 2015. arXiv:1506.02025.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = ["affine_warp"]


def affine_warp(x: Tensor, theta: Tensor, out_size: tuple[int, int] | None = None) -> Tensor:
    """Sample `x` bilinearly at the affine image of a regular output grid [Jaderberg15] Sec. 3.2-3.3.

    Output pixel (i, j) with normalised target coordinates (x_t, y_t) in [-1, 1] (pixel centres,
    ``align_corners=False``; x runs along W, y along H) reads `x` at the source coordinates
    (x_s, y_s) = theta @ (x_t, y_t, 1) (Eq. 1), by bilinear interpolation (Eq. 5); points outside
    the input read zeros. The identity theta [[1, 0, 0], [0, 1, 0]] returns `x` when `out_size`
    is its own size.

    Args:
        x: feature map U, (B, C, H, W).
        theta: affine transforms A_theta, (B, 2, 3), from target to source coordinates.
        out_size: (H', W') of the output grid in pixels; None = (H, W).

    Returns:
        The warped feature map V, (B, C, H', W').

    Raises:
        ValueError: if `x` is not 4-D, or `theta` is not (B, 2, 3) with the batch size of `x`.

    References:
        [Jaderberg15] Eq. 1 (affine grid generator), Eq. 5 (bilinear sampling kernel).
    """
    if x.dim() != 4:
        raise ValueError(f"x must be a (B, C, H, W) feature map, got shape {tuple(x.shape)}")
    if theta.shape != (x.shape[0], 2, 3):
        raise ValueError(f"theta must be (B, 2, 3) = {(x.shape[0], 2, 3)}, got {tuple(theta.shape)}")
    height, width = x.shape[-2:] if out_size is None else out_size
    grid = F.affine_grid(theta.to(x.dtype), [x.shape[0], x.shape[1], height, width], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # Eq. 5
