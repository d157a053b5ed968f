"""Channel attention: one weight in (0, 1) per channel of a feature map, from its global average.

Both modules squeeze each channel of x (B, C, H, W) to its mean over the H x W positions, turn
the C means into C gates in (0, 1), and scale each channel by its gate. They differ in how the
gates see each other: Squeeze-and-Excitation mixes all channels through a bottleneck MLP
[Hu18]; ECA lets each channel see only its k neighbours through a 1-D convolution, with no
dimensionality reduction [Wang20].

References:
    [Hu18] J. Hu, L. Shen, G. Sun. Squeeze-and-Excitation Networks. CVPR 2018. arXiv:1709.01507.
    [Wang20] Q. Wang, B. Wu, P. Zhu, P. Li, W. Zuo, Q. Hu. ECA-Net: Efficient Channel Attention
    for Deep Convolutional Neural Networks. CVPR 2020. arXiv:1910.03151.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._image import check_image, check_odd_kernel

__all__ = ["ChannelAttended", "EfficientChannelAttention", "SqueezeExcitation", "eca_kernel_size"]


class ChannelAttended(NamedTuple):
    """Output of a channel attention module."""

    output: Tensor  # (B, C, H, W): the input with channel c scaled by weights[:, c]
    weights: Tensor  # (B, C): the channel gates, in (0, 1)


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """ECA's adaptive 1-D kernel size k = |log2(C) / gamma + b / gamma|_odd [Wang20] Sec. 3.2.3, Eq. 12.

    As in the paper's reference code, t = int(|(log2(C) + b) / gamma|) and k = t if t is odd
    else t + 1, so e.g. C = 64 gives 3, C = 256 and C = 512 give 5, C = 2048 gives 7.

    Args:
        channels: number of channels C, >= 1.
        gamma: dimensionless slope of the assumed C = 2^(gamma * k - b) mapping; > 0.
        b: dimensionless offset of that mapping.

    Returns:
        An odd kernel size k >= 1 (in channels).

    Raises:
        ValueError: if `channels` < 1 or `gamma` <= 0.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class SqueezeExcitation(nn.Module):
    """Squeeze-and-Excitation block [Hu18] Sec. 3, Eqs. 2-4.

    z_c = mean over (i, j) of x_c(i, j) (Eq. 2, squeeze); s = sigmoid(W_2 relu(W_1 z)) (Eq. 3,
    excitation); output_c = s_c x_c (Eq. 4, scale). Our ``fc1`` is the paper's W_1 (C -> C/r),
    ``fc2`` its W_2 (C/r -> C); our `reduction` is its r (16 by default, the
    value of the paper's experiments).

    Args:
        channels: number of channels C of the input.
        reduction: reduction ratio r; the bottleneck has max(`min_hidden`, C // r) units.
        min_hidden: smallest bottleneck width, so that small C still gets >= 1 unit.

    Raises:
        ValueError: if `channels`, `reduction` or `min_hidden` is < 1.

    Differences from the paper:
        both FC layers have biases (Eq. 3 omits them "to simplify the notation"; the authors'
        code has them); C // r is floored and clamped to `min_hidden`.
    """

    def __init__(self, channels: int, *, reduction: int = 16, min_hidden: int = 1) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("reduction", reduction), ("min_hidden", min_hidden)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.channels = channels
        hidden = max(min_hidden, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)  # W_1
        self.fc2 = nn.Linear(hidden, channels)  # W_2

    def forward(self, x: Tensor) -> ChannelAttended:
        """Scale each channel of `x` by its excitation.

        Args:
            x: feature map U, (B, C, H, W).

        Returns:
            :class:`ChannelAttended` with output (B, C, H, W) and weights s (B, C) in (0, 1).

        Raises:
            ValueError: if `x` is not (B, C, H, W) with C = `channels`.
        """
        check_image(x, self.channels)
        z = x.mean(dim=(2, 3))  # (B, C)   Eq. 2
        weights = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))  # s, (B, C)   Eq. 3
        return ChannelAttended(x * weights[:, :, None, None], weights)  # Eq. 4


class EfficientChannelAttention(nn.Module):
    """Efficient Channel Attention (ECA) [Wang20] Sec. 3.2: w = sigmoid(C1D_k(y)), k from Eq. 12.

    y = mean over (i, j) of x (global average pooling); w = sigmoid(C1D_k(y)), a 1-D convolution
    without bias across the channel axis, zero-padded by k // 2 so that each of the C channels
    gets a gate from itself and its (k - 1) / 2 neighbours on either side; output_c = w_c x_c.

    Args:
        channels: number of channels C of the input.
        gamma: slope of the adaptive kernel size, see :func:`eca_kernel_size` (paper: 2).
        b: offset of the adaptive kernel size (paper: 1).
        kernel_size: odd kernel size k in channels; None = adaptive, ``eca_kernel_size(C, gamma, b)``.

    Raises:
        ValueError: if `channels` < 1 or `kernel_size` is not a positive odd int.

    Differences from the paper:
        none in the computation; `kernel_size` lets a caller fix k (the paper's ablation of
        fixed k).
    """

    def __init__(self, channels: int, *, gamma: float = 2, b: float = 1, kernel_size: int | None = None) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        k = eca_kernel_size(channels, gamma, b) if kernel_size is None else kernel_size
        check_odd_kernel(k)
        self.channels = channels
        self.kernel_size = k
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)  # C1D_k

    def forward(self, x: Tensor) -> ChannelAttended:
        """Scale each channel of `x` by a gate from its neighbourhood of channel means.

        Args:
            x: feature map X, (B, C, H, W).

        Returns:
            :class:`ChannelAttended` with output (B, C, H, W) and weights w (B, C) in (0, 1).

        Raises:
            ValueError: if `x` is not (B, C, H, W) with C = `channels`.
        """
        check_image(x, self.channels)
        y = x.mean(dim=(2, 3))  # GAP, (B, C)
        weights = torch.sigmoid(self.conv(y.unsqueeze(1)).squeeze(1))  # w, (B, 1, C) -> (B, C)
        return ChannelAttended(x * weights[:, :, None, None], weights)
