"""Front ends that shorten speech frame sequences before attention.

References:
    [Dong18] L. Dong, S. Xu, B. Xu. Speech-Transformer: A No-Recurrence Sequence-to-Sequence
    Model for Speech Recognition. ICASSP 2018. DOI:10.1109/ICASSP.2018.8462506.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MIN_FRAMES", "ConvSubsampling", "check_frames"]

MIN_FRAMES = 7  # the shortest input two stride-2 3x3 convolutions turn into one position


def check_frames(frames: Tensor, lengths: Tensor, n_mels: int) -> None:
    if frames.dim() != 3 or frames.shape[-1] != n_mels:
        raise ValueError(f"frames must be (B, T, D) with D={n_mels} mel filters, got {tuple(frames.shape)}")
    if lengths.shape != frames.shape[:1] or (
        lengths.numel() and (int(lengths.min()) < MIN_FRAMES or int(lengths.max()) > frames.shape[1])
    ):
        raise ValueError(f"lengths must be (B,) in [{MIN_FRAMES}, T={frames.shape[1]}] frames, got {lengths.tolist()}")


class ConvSubsampling(nn.Module):
    """Two Conv2d(3 x 3, stride 2) + ReLU over (time, frequency), then a linear layer to D:
    (B, T, n_mels) -> (B, T', D) with T' = ((T - 1) // 2 - 1) // 2, one position per 4 frames
    [Dong18] Sec. 3.1.

    Args:
        n_mels: input width (mel filters).
        d_model: output width D.
        channels: convolution channels.
    """

    stride = 4  # input frames per output position

    def __init__(self, n_mels: int, d_model: int, *, channels: int = 32) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2), nn.ReLU(), nn.Conv2d(channels, channels, 3, stride=2), nn.ReLU()
        )
        freq = ((n_mels - 1) // 2 - 1) // 2
        if freq < 1:
            raise ValueError(f"n_mels={n_mels} is too few for two stride-2 convolutions; give at least 7")
        self.out = nn.Linear(channels * freq, d_model)

    @staticmethod
    def output_lengths(lengths: Tensor) -> Tensor:
        """Positions T' of inputs of `lengths` frames (B,) -> (B,)."""
        return torch.div(torch.div(lengths - 1, 2, rounding_mode="floor") - 1, 2, rounding_mode="floor")

    def forward(self, frames: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """frames (B, T, n_mels) and lengths (B,) -> positions (B, T', D) and their lengths (B,).

        Raises:
            ValueError: for frames of another width or lengths outside [7, T].
        """
        check_frames(frames, lengths, self.n_mels)
        x = self.conv(frames.unsqueeze(1))  # (B, C, T', F')
        x = self.out(x.permute(0, 2, 1, 3).flatten(2))  # (B, T', D)
        return x, self.output_lengths(lengths)
