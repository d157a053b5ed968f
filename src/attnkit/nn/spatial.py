"""Spatial attention on feature maps: CBAM's channel and spatial gates, and the spatial transformer.

CBAM [Woo18] refines a feature map twice: a channel gate in (0, 1) per channel from its average-
and max-pooled descriptors through a shared MLP, then a spatial gate in (0, 1) per position from
a convolution over the channel-wise average and maximum. A spatial transformer [Jaderberg15]
attends by moving: a localisation network regresses an affine transform theta, and the input is
resampled on the transformed grid (:func:`attnkit.functional.affine_warp`).

References:
    [Woo18] S. Woo, J. Park, J.-Y. Lee, I. S. Kweon. CBAM: Convolutional Block Attention Module.
    ECCV 2018. arXiv:1807.06521.
    [Jaderberg15] M. Jaderberg, K. Simonyan, A. Zisserman, K. Kavukcuoglu. Spatial Transformer
    Networks. NeurIPS 2015. arXiv:1506.02025.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import Tensor, nn

from ..functional.warp import affine_warp
from ._image import check_image, check_odd_kernel
from .channel import ChannelAttended

__all__ = [
    "CBAM",
    "CBAMOutput",
    "ChannelGate",
    "SpatialAttended",
    "SpatialGate",
    "SpatialTransformed",
    "SpatialTransformer",
]

IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # [[1, 0, 0], [0, 1, 0]] row by row


class SpatialAttended(NamedTuple):
    """Output of :class:`SpatialGate`."""

    output: Tensor  # (B, C, H, W): the input with position (h, w) scaled by weights[:, 0, h, w]
    weights: Tensor  # (B, 1, H, W): the spatial gates, in (0, 1)


class CBAMOutput(NamedTuple):
    """Output of :class:`CBAM`."""

    output: Tensor  # (B, C, H, W): channel-refined, then spatially refined input
    channel_weights: Tensor  # (B, C): M_c, in (0, 1)
    spatial_weights: Tensor  # (B, 1, H, W): M_s of the channel-refined map, in (0, 1)


class SpatialTransformed(NamedTuple):
    """Output of :class:`SpatialTransformer`."""

    output: Tensor  # (B, C, H', W'): the input resampled on the transformed grid
    theta: Tensor  # (B, 2, 3): the affine transform from target to source coordinates


class ChannelGate(nn.Module):
    """CBAM's channel attention M_c [Woo18] Sec. 3, Eq. 2.

    M_c(F) = sigmoid(MLP(AvgPool(F)) + MLP(MaxPool(F))), both pools global over H x W, one MLP
    W_1 relu(W_0 .) shared by the two descriptors; output = M_c(F) * F. Our ``fc0`` / ``fc1``
    are the paper's W_0 (C -> C/r) and W_1 (C/r -> C).

    Args:
        channels: number of channels C of the input.
        reduction: reduction ratio r; the hidden layer has max(1, C // r) units.

    Raises:
        ValueError: if `channels` or `reduction` is < 1.

    Differences from the paper:
        the MLP layers have biases (Eq. 2 writes none; the authors' code has them); C // r is
        floored and clamped to >= 1.
    """

    def __init__(self, channels: int, *, reduction: int = 16) -> None:
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be >= 1, got {channels} and {reduction}")
        self.channels = channels
        hidden = max(1, channels // reduction)
        self.fc0 = nn.Linear(channels, hidden)  # W_0
        self.fc1 = nn.Linear(hidden, channels)  # W_1

    def mlp(self, descriptor: Tensor) -> Tensor:
        """The shared MLP W_1 relu(W_0 d) of a (B, C) descriptor, (B, C)."""
        return self.fc1(torch.relu(self.fc0(descriptor)))

    def forward(self, x: Tensor) -> ChannelAttended:
        """Scale each channel of `x` by M_c.

        Args:
            x: feature map F, (B, C, H, W).

        Returns:
            :class:`~attnkit.nn.channel.ChannelAttended` with output (B, C, H, W) and weights
            M_c (B, C) in (0, 1).

        Raises:
            ValueError: if `x` is not (B, C, H, W) with C = `channels`.
        """
        check_image(x, self.channels)
        avg = x.mean(dim=(2, 3))  # F^c_avg, (B, C)
        peak = x.amax(dim=(2, 3))  # F^c_max, (B, C)
        weights = torch.sigmoid(self.mlp(avg) + self.mlp(peak))  # M_c, (B, C)   Eq. 2
        return ChannelAttended(x * weights[:, :, None, None], weights)


class SpatialGate(nn.Module):
    """CBAM's spatial attention M_s [Woo18] Sec. 3, Eq. 3.

    M_s(F) = sigmoid(f^{k x k}([AvgPool(F); MaxPool(F)])), the pools taken over the channel axis
    (two (B, 1, H, W) maps, average first), f a convolution 2 -> 1 channels zero-padded by k // 2
    so the map keeps its H x W; output = M_s(F) * F.

    Args:
        kernel_size: odd size k of the convolution in pixels (paper: 7, Sec. 4.1).

    Raises:
        ValueError: if `kernel_size` is not a positive odd int.

    Differences from the paper:
        the convolution has a bias and no batch normalisation (the authors' code adds BN).
    """

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        check_odd_kernel(kernel_size)
        self.kernel_size = kernel_size
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)  # f^{k x k}

    def forward(self, x: Tensor) -> SpatialAttended:
        """Scale each position of `x` by M_s.

        Args:
            x: feature map F', (B, C, H, W), any C.

        Returns:
            :class:`SpatialAttended` with output (B, C, H, W) and weights M_s (B, 1, H, W) in (0, 1).

        Raises:
            ValueError: if `x` is not a (B, C, H, W) feature map.
        """
        check_image(x, None)
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (B, 2, H, W)
        weights = torch.sigmoid(self.conv(pooled))  # M_s, (B, 1, H, W)   Eq. 3
        return SpatialAttended(x * weights, weights)


class CBAM(nn.Module):
    """Convolutional Block Attention Module [Woo18] Sec. 3, Eq. 1: channel gate, then spatial gate.

    F' = M_c(F) * F, F'' = M_s(F') * F' (the sequential, channel-first arrangement the paper
    finds best, Sec. 4.1).

    Args:
        channels: number of channels C of the input.
        reduction: reduction ratio r of the channel gate's MLP.
        spatial_kernel: odd kernel size of the spatial gate's convolution, in pixels.

    Raises:
        ValueError: for `channels` or `reduction` < 1 or an even or non-positive `spatial_kernel`.

    Differences from the paper:
        those of :class:`ChannelGate` and :class:`SpatialGate`; CBAM here is the attention
        alone, not wrapped in a ResNet block.
    """

    def __init__(self, channels: int, *, reduction: int = 16, spatial_kernel: int = 7) -> None:
        super().__init__()
        self.channel = ChannelGate(channels, reduction=reduction)
        self.spatial = SpatialGate(spatial_kernel)

    def forward(self, x: Tensor) -> CBAMOutput:
        """Refine `x` by channel, then by position.

        Args:
            x: feature map F, (B, C, H, W).

        Returns:
            :class:`CBAMOutput` with output F'' (B, C, H, W), channel_weights M_c (B, C) and
            spatial_weights M_s(F') (B, 1, H, W), all weights in (0, 1).

        Raises:
            ValueError: if `x` is not (B, C, H, W) with C = `channels`.
        """
        refined, channel_weights = self.channel(x)  # F', (B, C, H, W)
        output, spatial_weights = self.spatial(refined)  # F'', (B, C, H, W)
        return CBAMOutput(output, channel_weights, spatial_weights)


class SpatialTransformer(nn.Module):
    """Spatial transformer with an affine transform [Jaderberg15] Sec. 3.

    A localisation network (Sec. 3.1) maps U (B, C, H, W) to theta (B, 2, 3): for each entry of
    `loc_channels`, a 3 x 3 convolution (zero-padded by 1), a 2 x 2 max pool and a ReLU, then
    FC -> ReLU -> FC(6). Its last layer starts at zero weights and the identity bias
    [1, 0, 0, 0, 1, 0], so the module starts as the identity. The grid generator (Eq. 1) and
    bilinear sampler (Eq. 5) are :func:`~attnkit.functional.affine_warp`, with coordinates
    normalised to [-1, 1] over pixel centres (``align_corners=False``).

    Args:
        in_channels: number of channels C of the input.
        in_size: (H, W) of the input in pixels; each must be >= 2 ** len(`loc_channels`).
        out_size: (H', W') of the output in pixels; None = `in_size`.
        loc_channels: output channels of the localisation network's convolutions, in order.
        loc_hidden: width of its hidden fully connected layer.

    Raises:
        ValueError: if a size is < 1, `loc_channels` is empty, or `in_size` is too small for
            the pools.

    Differences from the paper:
        the paper's localisation networks vary by experiment; ours is one small CNN of that
        kind. The identity initialisation follows the authors' practice of starting at the
        identity transform rather than a stated equation.
    """

    def __init__(
        self,
        in_channels: int,
        in_size: tuple[int, int],
        out_size: tuple[int, int] | None = None,
        *,
        loc_channels: Sequence[int] = (8, 10),
        loc_hidden: int = 32,
    ) -> None:
        super().__init__()
        sizes = (in_channels, *in_size, *(out_size or in_size), *loc_channels, loc_hidden)
        if len(in_size) != 2 or min(sizes) < 1 or not loc_channels:
            raise ValueError(
                f"sizes must be >= 1 and loc_channels non-empty, got in_channels={in_channels}, "
                f"in_size={in_size}, out_size={out_size}, loc_channels={loc_channels}, "
                f"loc_hidden={loc_hidden}"
            )
        factor = 2 ** len(loc_channels)
        if min(in_size) < factor:
            raise ValueError(
                f"in_size {tuple(in_size)} is too small for {len(loc_channels)} 2x2 max pools; "
                f"each side must be >= {factor}, or pass fewer loc_channels"
            )
        self.in_channels = in_channels
        self.in_size = (int(in_size[0]), int(in_size[1]))
        self.out_size = self.in_size if out_size is None else (int(out_size[0]), int(out_size[1]))
        layers: list[nn.Module] = []
        previous = in_channels
        for width in loc_channels:
            layers += [nn.Conv2d(previous, width, 3, padding=1), nn.MaxPool2d(2), nn.ReLU()]
            previous = width
        flat = previous * (self.in_size[0] // factor) * (self.in_size[1] // factor)
        self.features = nn.Sequential(*layers)
        theta_layer = nn.Linear(loc_hidden, 6)
        self.regressor = nn.Sequential(nn.Flatten(), nn.Linear(flat, loc_hidden), nn.ReLU(), theta_layer)
        nn.init.zeros_(theta_layer.weight)
        with torch.no_grad():
            theta_layer.bias.copy_(torch.tensor(IDENTITY_THETA))

    def localise(self, x: Tensor) -> Tensor:
        """The localisation network: theta (B, 2, 3) for a (B, C, H, W) input."""
        return self.regressor(self.features(x)).view(-1, 2, 3)

    def forward(self, x: Tensor) -> SpatialTransformed:
        """Regress theta from `x` and resample `x` with it.

        Args:
            x: feature map U, (B, C, H, W) with (H, W) = `in_size`.

        Returns:
            :class:`SpatialTransformed` with output V (B, C, H', W') and theta (B, 2, 3).

        Raises:
            ValueError: if `x` is not (B, C, H, W) with C = `in_channels` and (H, W) = `in_size`.
        """
        check_image(x, self.in_channels)
        if tuple(x.shape[-2:]) != self.in_size:
            raise ValueError(
                f"x must be (B, C, H, W) with (H, W)={self.in_size}, got {tuple(x.shape)}; "
                "build the module with in_size of its input"
            )
        theta = self.localise(x)  # (B, 2, 3)
        return SpatialTransformed(self.transform(x, theta), theta)

    def transform(self, x: Tensor, theta: Tensor) -> Tensor:
        """Resample `x` (B, C, H, W) with a given `theta` (B, 2, 3) to (B, C, *out_size)."""
        return affine_warp(x, theta, self.out_size)
