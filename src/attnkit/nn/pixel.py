"""Pixel self-attention: the non-local block, every position of a feature map attending to all.

The feature map x (B, C, H, W) is read as a sequence of T = H W pixel vectors in row-major
order: pixel (row, col) is position ``row * W + col``, as ``x.flatten(2)`` lays it out, so a
weight matrix (B, HW, HW) reshapes to (B, H, W, H, W) with ``.view(B, H, W, H, W)``.

References:
    [Wang18] X. Wang, R. Girshick, A. Gupta, K. He. Non-local Neural Networks. CVPR 2018.
    arXiv:1711.07971.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from ..functional import attend
from ._image import check_image

__all__ = ["NonLocalAttention", "PixelAttended"]


class PixelAttended(NamedTuple):
    """Output of :class:`NonLocalAttention`."""

    output: Tensor  # (B, C, H, W): z = W_z y + x (or W_z y without the residual)
    weights: Tensor | None  # (B, HW, HW) with one head, (B, Nh, HW, HW) with more; None unless asked


class NonLocalAttention(nn.Module):
    """Embedded-Gaussian non-local block [Wang18] Sec. 3.2-3.3, Eqs. 1, 3 and 6.

    theta, phi and g are 1 x 1 convolutions from C to Ci = `inner_channels` channels. With
    x_i the pixel vectors (row-major, see the module docstring),
    y_i = sum_j softmax_j(theta(x_i)^T phi(x_j)) g(x_j) (Eq. 1 with the embedded Gaussian
    f of Eq. 3 and C(x) = sum_j f, Sec. 3.2), computed by :func:`~attnkit.functional.attend`
    with the plain ``"dot"`` score: no 1 / sqrt(Dh) scaling, as in the paper. Then
    z_i = W_z y_i + x_i (Eq. 6), W_z a 1 x 1 convolution from Ci back to C. With `n_heads`
    Nh > 1, theta, phi and g are split into Nh heads of Dh = Ci / Nh channels that attend
    separately and are concatenated before W_z. Our ``theta``/``phi``/``g``/``out`` are the
    paper's theta/phi/g/W_z; our `inner_channels` is its C/2 bottleneck (Sec. 3.3).

    Args:
        channels: number of channels C of the input.
        inner_channels: Ci, the width of theta, phi and g; None = max(1, C // 2).
        n_heads: number of heads Nh; `inner_channels` must be divisible by it.
        residual: add the input back (Eq. 6); False returns W_z y alone.
        zero_init: start W_z at zero weights and bias, so that with the residual the block
            starts as the identity mapping (without it, the output starts at zero).

    Raises:
        ValueError: if a size is < 1 or `inner_channels` is not divisible by `n_heads`.

    Differences from the paper:
        the paper puts a batch normalisation after W_z with its scale initialised to zero
        (Sec. 4.1); we have no BN and initialise W_z itself to zero, which gives the same
        identity start. Multiple heads are our extension (the paper has one); the paper's
        optional subsampling of phi and g by max pooling (Sec. 3.3) is left out.
    """

    def __init__(
        self,
        channels: int,
        inner_channels: int | None = None,
        *,
        n_heads: int = 1,
        residual: bool = True,
        zero_init: bool = True,
    ) -> None:
        super().__init__()
        inner = max(1, channels // 2) if inner_channels is None else inner_channels
        if min(channels, inner, n_heads) < 1:
            raise ValueError(f"channels, inner_channels and n_heads must be >= 1, got {channels}, {inner}, {n_heads}")
        if inner % n_heads:
            raise ValueError(
                f"inner_channels={inner} must be divisible by n_heads={n_heads}; "
                f"choose e.g. inner_channels={n_heads * max(1, inner // n_heads)}"
            )
        self.channels, self.inner_channels, self.n_heads = channels, inner, n_heads
        self.head_dim = inner // n_heads
        self.residual = residual
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)  # W_z
        if zero_init:
            nn.init.zeros_(self.out.weight)
            if self.out.bias is not None:  # always, a Conv2d with the default bias=True
                nn.init.zeros_(self.out.bias)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, Ci, H, W) -> (B, Nh, HW, Dh), pixels in row-major order."""
        b = x.shape[0]
        return x.view(b, self.n_heads, self.head_dim, -1).transpose(-1, -2)  # (B, Nh, HW, Dh)

    def forward(self, x: Tensor, *, need_weights: bool = False) -> PixelAttended:
        """Let every pixel of `x` attend to every pixel.

        Args:
            x: feature map, (B, C, H, W).
            need_weights: return the attention weights (explicit path); False uses the fused
                kernel of :func:`~attnkit.functional.attend` and returns None.

        Returns:
            :class:`PixelAttended` with output (B, C, H, W) and weights, rows summing to 1:
            (B, HW, HW) for one head, (B, Nh, HW, HW) for more, or None; entry [b, i, j] is the
            weight pixel i (row-major) gives pixel j.

        Raises:
            ValueError: if `x` is not (B, C, H, W) with C = `channels`.
        """
        check_image(x, self.channels)
        b, _, h, w = x.shape
        q, k, v = self._heads(self.theta(x)), self._heads(self.phi(x)), self._heads(self.g(x))
        context, weights = attend(q, k, v, score="dot", need_weights=need_weights)  # (B, Nh, HW, Dh)   Eqs. 1, 3
        y = context.transpose(-1, -2).reshape(b, self.inner_channels, h, w)  # (B, Ci, H, W)
        output = self.out(y)  # W_z y, (B, C, H, W)
        if self.residual:
            output = output + x  # Eq. 6
        if weights is not None and self.n_heads == 1:
            weights = weights.squeeze(1)  # (B, HW, HW)
        return PixelAttended(output, weights)
