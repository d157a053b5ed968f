"""Shape checks shared by the image attention modules (channel, spatial, pixel)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["check_image", "check_odd_kernel"]


def check_image(x: Tensor, channels: int | None, name: str = "x") -> None:
    """Raise ValueError unless `x` is a (B, C, H, W) feature map with C = `channels` (any C if None)."""
    if x.dim() != 4:
        raise ValueError(
            f"{name} must be a (B, C, H, W) feature map, got shape {tuple(x.shape)} "
            f"(rank {x.dim()}); add a batch dimension with x.unsqueeze(0) for one image"
        )
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{name} must be (B, C, H, W) with C={channels}, got {tuple(x.shape)}; "
            "build the module with the channel count of its input"
        )


def check_odd_kernel(kernel_size: int, name: str = "kernel_size") -> None:
    """Raise ValueError unless `kernel_size` is a positive odd int (so padding k // 2 keeps the size)."""
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f"{name} must be a positive odd int (padding {name} // 2 then keeps the size), got {kernel_size!r}"
        )
