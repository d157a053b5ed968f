"""Image models: the ViT against a ViT built from torch.nn.TransformerEncoder with copied weights;
the attention CNN's outputs, its spatial transformer starting as the identity; gradients in
float64; the cnn and vit families' config checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnkit.errors import ConfigError
from attnkit.models import CNNConfig, CNNFamily, ImageSpec, ViTConfig, ViTFamily
from attnkit.models.cnn_classifier import CNN_ATTENTIONS, AttentionCNN, ImageClassifierOutput
from attnkit.models.vit import VisionTransformer


class TorchViT(nn.Module):
    """The reference: [Dosovitskiy21] Eq. 1-4 from PyTorch's own encoder layers."""

    def __init__(self, size, patch, d_model, n_heads, layers, d_ff, n_classes=10):
        super().__init__()
        self.patch = nn.Conv2d(1, d_model, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model))
        self.pos = nn.Parameter(torch.randn(1, 1 + (size // patch) ** 2, d_model))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, n_heads, d_ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        self.norm, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, n_classes)

    def forward(self, images):
        x = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], 1) + self.pos
        maps = []
        for layer in self.layers:
            h = layer.norm1(x)
            att, w = layer.self_attn(h, h, h, need_weights=True, average_attn_weights=False)
            maps.append(w)
            x = layer(x)
        return self.head(self.norm(x[:, 0])), maps


def _copy(ours: VisionTransformer, ref: TorchViT) -> None:
    with torch.no_grad():
        ours.patch_embedding.load_state_dict(ref.patch.state_dict())
        ours.class_token.copy_(ref.cls)
        ours.positions.copy_(ref.pos)
        for mine, theirs in zip(ours.layers, ref.layers):
            mine.self_attn.in_proj.weight.copy_(theirs.self_attn.in_proj_weight)
            mine.self_attn.in_proj.bias.copy_(theirs.self_attn.in_proj_bias)
            mine.self_attn.out_proj.load_state_dict(theirs.self_attn.out_proj.state_dict())
            mine.sub1.norm.load_state_dict(theirs.norm1.state_dict())
            mine.sub2.norm.load_state_dict(theirs.norm2.state_dict())
            mine.ff[0].load_state_dict(theirs.linear1.state_dict())
            mine.ff[3].load_state_dict(theirs.linear2.state_dict())
        ours.norm.load_state_dict(ref.norm.state_dict())
        ours.head.load_state_dict(ref.head.state_dict())


def test_vit_equals_a_torch_encoder_vit_with_copied_weights():
    torch.manual_seed(0)
    ref = TorchViT(12, 4, 16, 4, 3, 32).double()
    ours = VisionTransformer(1, 10, (12, 12), patch_size=4, d_model=16, n_heads=4, layers=3, d_ff=32).double()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    _copy(ours, ref)
    images = torch.randn(3, 1, 12, 12, dtype=torch.float64)
    logits, maps = ref(images)
    out = ours(images, need_weights=True)
    torch.testing.assert_close(out.logits, logits, rtol=1e-10, atol=1e-10)
    assert out.patch_grid == (3, 3) and len(out.layer_weights) == 3
    for w, expected in zip(out.layer_weights, maps):
        assert w.shape == (3, 4, 10, 10)
        torch.testing.assert_close(w, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ours(images).logits, logits, rtol=1e-10, atol=1e-10)  # fused path, no weights


def test_vit_gradients_in_float64():
    torch.manual_seed(1)
    model = VisionTransformer(1, 3, (8, 8), patch_size=4, d_model=8, n_heads=2, layers=1, d_ff=8).double()
    images = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x).logits, (images,))


@pytest.mark.parametrize("attention", CNN_ATTENTIONS)
def test_cnn_returns_the_attention_it_used(attention):
    torch.manual_seed(0)
    model = AttentionCNN(1, 10, (28, 28), channels=(8, 16, 32), attention=attention).eval()
    out = model(torch.randn(2, 1, 28, 28), need_weights=True)
    assert out.logits.shape == (2, 10)
    channel = attention in ("se", "eca", "cbam")
    assert [tuple(w.shape) for w in out.channel_weights] == ([(2, 8), (2, 16), (2, 32)] if channel else [])
    assert [tuple(w.shape) for w in out.spatial_weights] == (
        [(2, 1, 28, 28), (2, 1, 14, 14), (2, 1, 7, 7)] if attention == "cbam" else []
    )
    for w in (*out.channel_weights, *out.spatial_weights):
        assert torch.all((w > 0) & (w < 1))
    if attention == "nonlocal":
        assert out.pixel_grid == (7, 7) and out.pixel_weights.shape == (2, 49, 49)
        torch.testing.assert_close(out.pixel_weights.sum(-1), torch.ones(2, 49))
        assert model(torch.randn(2, 1, 28, 28)).pixel_weights is None  # only when asked for
    else:
        assert out.pixel_weights is None
    assert out.theta is None and out.rectified is None


def test_cnn_with_a_spatial_transformer_starts_from_the_identity():
    torch.manual_seed(0)
    model = AttentionCNN(1, 10, (28, 28), channels=(8, 16), stn=True).double().eval()
    images = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    out = model(images)
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64).expand(3, 2, 3)
    torch.testing.assert_close(out.theta, identity)
    torch.testing.assert_close(out.rectified, images, rtol=1e-10, atol=1e-10)
    plain = AttentionCNN(1, 10, (28, 28), channels=(8, 16)).double().eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("stn.")})
    torch.testing.assert_close(plain(images).logits, out.logits, rtol=1e-9, atol=1e-9)


def test_a_smaller_spatial_transformer_output_starts_as_a_2x2_average():
    """stn_size=30 on 60 x 60 images: the identity samples output pixel centres (i + 0.5) * 2 - 0.5
    of the input, half-way between two pixels each way, i.e. the mean of each 2 x 2 block."""
    torch.manual_seed(0)
    model = AttentionCNN(1, 10, (60, 60), channels=(8, 16), stn=True, stn_size=30).double().eval()
    images = torch.randn(2, 1, 60, 60, dtype=torch.float64)
    out = model(images)
    torch.testing.assert_close(out.rectified, torch.nn.functional.avg_pool2d(images, 2), rtol=1e-10, atol=1e-10)
    assert out.logits.shape == (2, 10) and model.stages[0](out.rectified)[0].shape[-1] == 15
    with pytest.raises(ValueError, match="needs stn=True"):
        AttentionCNN(1, 10, (60, 60), stn_size=30)
    with pytest.raises(ValueError, match="at least 8 pixels a side, got \\(4, 4\\)"):
        AttentionCNN(1, 10, (60, 60), stn=True, stn_size=4)
    with pytest.raises(ConfigError, match="stn_size must be >= 0 and applies only"):
        CNNConfig(stn_size=30).check()


def test_the_flatten_head_is_one_linear_map_of_the_whole_last_feature_map():
    torch.manual_seed(0)
    model = AttentionCNN(1, 10, (28, 28), channels=(8, 16), head="flatten").double().eval()
    images = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    x = images
    for stage in model.stages:
        x = stage(x)[0]
    assert x.shape == (3, 16, 7, 7)
    linear = model.head[-1]
    expected = torch.stack([linear.weight @ x[b].reshape(-1) + linear.bias for b in range(3)])
    torch.testing.assert_close(model(images).logits, expected, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="unknown head 'max'"):
        AttentionCNN(1, 10, (28, 28), head="max")
    with pytest.raises(ConfigError, match="model.head: unknown 'max'"):
        CNNConfig(head="max").check()


@pytest.mark.parametrize("attention", ["se", "cbam", "nonlocal"])
def test_cnn_gradients_in_float64(attention):
    torch.manual_seed(2)
    model = (
        AttentionCNN(1, 3, (8, 8), channels=(4, 4), attention=attention, stn=attention == "se", reduction=2)
        .double()
        .eval()
    )
    if model.nonlocal_block is not None:
        nn.init.normal_(model.nonlocal_block.out.weight)  # W_z starts at zero; make the block count
    images = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: model(x).logits, (images,))


def test_models_reject_images_of_another_shape():
    with pytest.raises(ValueError, match=r"expected float images \(B, 1, 28, 28\), got torch.float32 \(2, 1, 30, 30\)"):
        AttentionCNN(1, 10, (28, 28))(torch.randn(2, 1, 30, 30))
    with pytest.raises(ValueError, match="expected float images"):
        VisionTransformer(1, 10, (28, 28))(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="not divisible by patch_size=5"):
        VisionTransformer(1, 10, (28, 28), patch_size=5)
    with pytest.raises(ValueError, match="unknown attention 'gate'"):
        AttentionCNN(1, 10, (28, 28), attention="gate")
    with pytest.raises(ValueError, match="at least 16 pixels a side"):
        AttentionCNN(1, 10, (8, 8), channels=(4, 4, 4, 4))


def test_families_check_their_options():
    spec = ImageSpec(1, 28, 28, 10)
    assert CNNFamily.label(CNNConfig(attention="cbam", stn=True)) == "stn+cnn+cbam"
    assert ViTFamily.build(ViTConfig(patch_size=7), spec).patch_grid == (4, 4)
    with pytest.raises(ConfigError, match="patch_size=5 must divide"):
        ViTFamily.build(ViTConfig(patch_size=5), spec)
    for bad, message in [
        (CNNConfig(attention="gate"), "unknown 'gate'"),
        (CNNConfig(attention="eca", reduction=4), "reduction does not apply"),
        (CNNConfig(attention="se", nonlocal_heads=2), "nonlocal_heads does not apply"),
        (CNNConfig(channels=(8, 0)), "positive integers"),
    ]:
        with pytest.raises(ConfigError, match=message):
            bad.check()
    with pytest.raises(ConfigError, match="model.d_model=30 must be divisible"):
        ViTConfig(d_model=30, n_heads=4).check()


def test_the_output_reads_its_own_maps_cbam_nonlocal_and_vit_rollout():
    """attention_maps names each map the model used and computes it as the papers do: CBAM's
    gate as returned, the non-local row of a query pixel / the mean weight received, and the ViT's
    rollout written out here as the product of (0.5 A + 0.5 I), rows renormalised [Abnar20] Eq. 1."""
    g = torch.Generator().manual_seed(0)
    gate = torch.rand(2, 1, 3, 4, generator=g)
    pixel = torch.softmax(torch.randn(2, 2, 12, 12, generator=g), -1)  # (B, Nh, HW, HW)
    layers = tuple(torch.softmax(torch.randn(2, 2, 5, 5, generator=g), -1) for _ in range(2))  # (B, Nh, T, T)
    out = ImageClassifierOutput(
        torch.zeros(2, 3),
        spatial_weights=(gate,),
        pixel_weights=pixel,
        pixel_grid=(3, 4),
        layer_weights=layers,
        patch_grid=(2, 2),
    )
    read = out.attention_maps(1)
    assert list(read.maps) == [
        "CBAM spatial gate, stage 1",
        "non-local: mean weight received",
        "ViT attention rollout (class token)",
        "ViT last layer, class token",
    ]
    torch.testing.assert_close(read.maps["CBAM spatial gate, stage 1"], gate[1, 0])
    torch.testing.assert_close(read.maps["non-local: mean weight received"], pixel[1].mean(0).mean(0).view(3, 4))
    assert read.query_grid == (3, 4) and read.query_map == "non-local: mean weight received"
    queried = out.attention_maps(1, (2, 1))
    torch.testing.assert_close(queried.maps["non-local: query pixel (2, 1)"], pixel[1].mean(0)[2 * 4 + 1].view(3, 4))
    rollout = torch.eye(5)
    for a in layers:
        step = 0.5 * a[1].mean(0) + 0.5 * torch.eye(5)
        step = step / step.sum(-1, keepdim=True)
        rollout = step @ rollout
    torch.testing.assert_close(read.maps["ViT attention rollout (class token)"], rollout[0, 1:].view(2, 2))
    torch.testing.assert_close(read.maps["ViT last layer, class token"], layers[-1][1].mean(0)[0, 1:].view(2, 2))
    with pytest.raises(ValueError, match="outside the non-local map of 3 x 4"):
        out.attention_maps(0, (3, 0))
    assert ImageClassifierOutput(torch.zeros(1, 3)).attention_maps(0).maps == {}
