"""A small CNN image classifier whose blocks take an attention by name, with an optional
spatial transformer in front: the models of the "attention by where it acts" comparison.

Each stage is conv 3x3 -> BatchNorm -> ReLU -> [channel or channel-and-spatial attention] ->
max-pool 2x2; global average pooling and a linear layer give the class logits. The attention
is chosen by name (:data:`CNN_ATTENTIONS`):

- ``none``: the plain CNN, the baseline;
- ``se``: Squeeze-and-Excitation after every stage's convolution [Hu18];
- ``eca``: Efficient Channel Attention after every stage's convolution [Wang20];
- ``cbam``: CBAM's channel then spatial gate after every stage's convolution [Woo18];
- ``nonlocal``: one non-local (pixel self-attention) block on the input of the last stage, where
  the maps are smallest [Wang18] Sec. 4.1 (the paper adds one to res4 of a ResNet).

``stn=True`` puts a spatial transformer [Jaderberg15] in front of the first stage: it predicts
an affine θ per image, resamples the image with it (same size), and the CNN sees the result.

Every forward returns the attention it used, in one :class:`ImageClassifierOutput` that the
Vision Transformer (:mod:`attnkit.models.vit`) returns too, so tasks and pictures read any image
model's attention the same way.

References:
    [Hu18] J. Hu, L. Shen, G. Sun. Squeeze-and-Excitation Networks. CVPR 2018. arXiv:1709.01507.
    [Wang20] Q. Wang et al. ECA-Net: Efficient Channel Attention for Deep Convolutional Neural
    Networks. CVPR 2020. arXiv:1910.03151.
    [Woo18] S. Woo, J. Park, J.-Y. Lee, I. S. Kweon. CBAM: Convolutional Block Attention Module.
    ECCV 2018. arXiv:1807.06521.
    [Wang18] X. Wang, R. Girshick, A. Gupta, K. He. Non-local Neural Networks. CVPR 2018.
    arXiv:1711.07971.
    [Jaderberg15] M. Jaderberg, K. Simonyan, A. Zisserman, K. Kavukcuoglu. Spatial Transformer
    Networks. NeurIPS 2015. arXiv:1506.02025.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from torch import Tensor, nn

from ..functional import attention_rollout
from ..nn.channel import EfficientChannelAttention, SqueezeExcitation
from ..nn.dropout import Dropout
from ..nn.pixel import NonLocalAttention
from ..nn.spatial import CBAM, SpatialTransformer

__all__ = ["ImageClassifierOutput", "ImageMaps", "AttentionCNN", "CNN_ATTENTIONS", "CNN_HEADS", "check_images"]

CNN_ATTENTIONS = ("none", "se", "eca", "cbam", "nonlocal")
CNN_HEADS = ("avg", "flatten")


class ImageClassifierOutput(NamedTuple):
    """What an image classifier returns: its logits and every attention it used.

    Fields (empty tuples or None where the model has no such attention):
        logits: unnormalised class scores, (B, n_classes).
        channel_weights: per stage, channel weights (B, C_s) in (0, 1) (SE, ECA, CBAM).
        spatial_weights: per stage, spatial gates (B, 1, H_s, W_s) in (0, 1) (CBAM).
        pixel_weights: pixel self-attention (B, HW, HW) or (B, Nh, HW, HW); row = query pixel,
            row-major over the map of size ``pixel_grid`` (non-local; None unless asked for).
        pixel_grid: (H, W) of the map `pixel_weights` is over.
        theta: the spatial transformer's affine matrices (B, 2, 3), normalised coordinates.
        rectified: the spatial transformer's output image (B, C, H, W), what the CNN saw.
        layer_weights: per Transformer layer, self-attention (B, Nh, T, T), T = 1 + patches
            (ViT; empty unless asked for).
        patch_grid: (rows, cols) of the ViT's patches.
    """

    logits: Tensor
    channel_weights: tuple[Tensor, ...] = ()
    spatial_weights: tuple[Tensor, ...] = ()
    pixel_weights: Tensor | None = None
    pixel_grid: tuple[int, int] | None = None
    theta: Tensor | None = None
    rectified: Tensor | None = None
    layer_weights: tuple[Tensor, ...] = ()
    patch_grid: tuple[int, int] | None = None

    def attention_maps(self, b: int, query: tuple[int, int] | None = None) -> "ImageMaps":
        """The model's own reading of its attention for item `b`: one named map per attention it
        used, each over the image (CBAM's spatial gate per stage; the non-local block's weights,
        mean received or from one query pixel; the ViT's attention rollout [Abnar20] and its last
        layer's class-token row, patches as (rows, cols)).

        Args:
            b: the item of the batch.
            query: (row, col) of a non-local map's query pixel; None: the mean weight each pixel
                receives over all queries.

        Raises:
            ValueError: if `query` lies outside the non-local map.
        """
        maps: dict[str, Tensor] = {}
        query_map = query_grid = None
        for s, gate in enumerate(self.spatial_weights, 1):
            maps[f"CBAM spatial gate, stage {s}"] = gate[b, 0].float().cpu()  # (H_s, W_s)
        if self.pixel_weights is not None and self.pixel_grid is not None:
            w = self.pixel_weights[b].float().cpu()  # (HW, HW) or (Nh, HW, HW)
            w = w.mean(0) if w.dim() == 3 else w
            h, wd = (int(n) for n in self.pixel_grid)
            query_grid = (h, wd)
            if query is None:
                query_map = "non-local: mean weight received"
                maps[query_map] = w.mean(0).view(h, wd)
            else:
                r, c = query
                if not (0 <= r < h and 0 <= c < wd):
                    raise ValueError(f"option query={r},{c} lies outside the non-local map of {h} x {wd}")
                query_map = f"non-local: query pixel ({r}, {c})"
                maps[query_map] = w[r * wd + c].view(h, wd)
        if self.layer_weights and self.patch_grid is not None:
            rollout = attention_rollout([lw[b : b + 1].float().cpu() for lw in self.layer_weights])[0]  # (T, T)
            maps["ViT attention rollout (class token)"] = rollout[0, 1:].view(*self.patch_grid)
            last = self.layer_weights[-1][b].float().mean(0).cpu()  # (T, T), mean of heads
            maps["ViT last layer, class token"] = last[0, 1:].view(*self.patch_grid)
        return ImageMaps(maps, query_map, query_grid)


class ImageMaps(NamedTuple):
    """An image classifier's attention maps of one item, by name (:meth:`ImageClassifierOutput.attention_maps`).

    Fields:
        maps: name -> non-negative map over the image (h, w), in the order the model applied them.
        query_map: the name of the non-local map that a query pixel picks, or None.
        query_grid: (h, w) of that map, or None.
    """

    maps: dict[str, Tensor]
    query_map: str | None = None
    query_grid: tuple[int, int] | None = None


def check_images(images: Tensor, channels: int, size: tuple[int, int]) -> None:
    """Raises ValueError unless `images` is (B, channels, *size) floating point."""
    if (
        images.dim() != 4
        or images.shape[1] != channels
        or tuple(images.shape[2:]) != tuple(size)
        or not images.is_floating_point()
    ):
        raise ValueError(
            f"expected float images (B, {channels}, {size[0]}, {size[1]}), got {images.dtype} {tuple(images.shape)}"
        )


class _Stage(nn.Module):
    """conv 3x3 -> BN -> ReLU -> [attention] -> max-pool 2x2."""

    def __init__(self, c_in: int, c_out: int, attention: str, reduction: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
        )
        self.attention = {
            "se": lambda: SqueezeExcitation(c_out, reduction=reduction),
            "eca": lambda: EfficientChannelAttention(c_out),
            "cbam": lambda: CBAM(c_out, reduction=reduction),
        }.get(attention, lambda: None)()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        x = self.conv(x)
        channel = spatial = None
        if isinstance(self.attention, CBAM):
            x, channel, spatial = self.attention(x)
        elif self.attention is not None:
            x, channel = self.attention(x)
        return self.pool(x), channel, spatial


class AttentionCNN(nn.Module):
    """CNN classifier with a named attention in its blocks and an optional spatial transformer.

    Args:
        in_channels: image channels C (1 for Fashion-MNIST).
        n_classes: number of classes.
        image_size: (H, W) of the input images, in pixels.
        channels: output channels of each stage; each stage halves H and W (floor).
        attention: one of :data:`CNN_ATTENTIONS`.
        stn: put a spatial transformer in front.
        stn_size: side in pixels of the spatial transformer's square output, which the stages
            then classify; 0 = the input's (H, W). A smaller output makes the identity transform
            a downsampling of the whole image, so zooming in on the object is what keeps its
            detail (see docs/results/vision.md).
        reduction: SE / CBAM channel reduction ratio r.
        nonlocal_heads: heads of the non-local block.
        dropout: dropout before the linear classifier.
        head: ``"avg"``: global average pooling of the last stage, then the linear classifier
            (nearly invariant to where the object is); ``"flatten"``: the last stage's whole
            (C, h, w) map into the linear classifier, which sees positions, so centring the
            object is worth something to it (the control of the spatial-transformer study in
            docs/results/vision.md).
        stn_lr_scale: the spatial transformer's parameters train at this multiple of the
            learning rate (set as their ``lr_scale``, read by the trainer's optimiser). With the
            classifier's rate, on the distorted canvases, its localisation network collapsed to
            one constant warp (docs/results/vision.md); 0.1 is a common remedy.

    Raises:
        ValueError: for an unknown attention, no stage, or an image too small for the stages.
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        image_size: tuple[int, int],
        *,
        channels: Sequence[int] = (32, 64, 128),
        attention: str = "none",
        stn: bool = False,
        reduction: int = 8,
        nonlocal_heads: int = 1,
        dropout: float = 0.0,
        stn_lr_scale: float = 1.0,
        stn_size: int = 0,
        head: str = "avg",
    ) -> None:
        super().__init__()
        if head not in CNN_HEADS:
            raise ValueError(f"unknown head {head!r}; choose one of: {', '.join(CNN_HEADS)}")
        if attention not in CNN_ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; choose one of: {', '.join(CNN_ATTENTIONS)}")
        if stn_size < 0 or (stn_size and not stn):
            raise ValueError(f"stn_size must be >= 0 and needs stn=True, got stn_size={stn_size}, stn={stn}")
        staged = (stn_size, stn_size) if stn_size else tuple(image_size)  # what the stages see
        if not channels or min(staged) < 2 ** len(channels):
            raise ValueError(
                f"{len(channels)} stages halve the image {len(channels)} times: need >= 1 stage "
                f"and images of at least {2 ** len(channels)} pixels a side, got {staged}"
            )
        self.in_channels, self.image_size = in_channels, (int(image_size[0]), int(image_size[1]))
        self.stn = SpatialTransformer(in_channels, self.image_size, (staged[0], staged[1])) if stn else None
        for p in self.stn.parameters() if self.stn is not None else ():
            setattr(p, "lr_scale", stn_lr_scale)  # read by the trainer's parameter groups
        widths = [in_channels, *channels]
        self.stages = nn.ModuleList(
            _Stage(widths[i], widths[i + 1], attention, reduction) for i in range(len(channels))
        )
        self.nonlocal_block = None
        if attention == "nonlocal":
            c = widths[-2]  # the input of the last stage
            self.nonlocal_block = NonLocalAttention(c, n_heads=nonlocal_heads)
        h, w = staged
        for _ in channels:
            h, w = h // 2, w // 2
        pool, features = (nn.AdaptiveAvgPool2d(1), widths[-1]) if head == "avg" else (nn.Identity(), widths[-1] * h * w)
        self.head = nn.Sequential(pool, nn.Flatten(), Dropout(dropout), nn.Linear(features, n_classes))

    def forward(self, images: Tensor, *, need_weights: bool = False) -> ImageClassifierOutput:
        """Classify images (B, C, H, W) (normalised floats); `need_weights` also returns the
        non-local block's (B, HW, HW) weights (the other attentions always come back, they are
        small). Raises ValueError for images of another shape than the model was built for."""
        check_images(images, self.in_channels, self.image_size)
        theta = rectified = None
        x = images
        if self.stn is not None:
            x, theta = self.stn(x)
            rectified = x
        channel, spatial, pixel, grid = [], [], None, None
        for i, stage in enumerate(self.stages):
            if self.nonlocal_block is not None and i == len(self.stages) - 1:
                grid = (x.shape[2], x.shape[3])
                x, pixel = self.nonlocal_block(x, need_weights=need_weights)
            x, c, s = stage(x)
            channel += [c] if c is not None else []
            spatial += [s] if s is not None else []
        return ImageClassifierOutput(self.head(x), tuple(channel), tuple(spatial), pixel, grid, theta, rectified)
