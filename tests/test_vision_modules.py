"""Attention on images (issue 12): SE, ECA, CBAM, the spatial transformer, the non-local block
and attention rollout, each checked against its paper's formula written out here in plain
tensor code (loops where short) with the module's own parameters copied in, in float64."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.functional import affine_warp, attention_rollout
from attnkit.nn import (
    CBAM,
    ChannelGate,
    EfficientChannelAttention,
    NonLocalAttention,
    SpatialGate,
    SpatialTransformer,
    SqueezeExcitation,
    eca_kernel_size,
)
from attnkit.nn.catalog import MODULES
from attnkit.references import CITATIONS, expand

D = torch.float64


def rand(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=D)


def mlp(z: torch.Tensor, first: torch.nn.Linear, second: torch.nn.Linear) -> torch.Tensor:
    """second(relu(first(z))) from the weights, written as matrix products: (B, C) -> (B, C)."""
    hidden = (z @ first.weight.detach().T + first.bias.detach()).clamp_min(0)
    return hidden @ second.weight.detach().T + second.bias.detach()


def channel_means(x: torch.Tensor) -> torch.Tensor:
    """z_c = 1/(H W) sum_i sum_j x_c(i, j), by a loop over positions: (B, C, H, W) -> (B, C)."""
    total = torch.zeros(x.shape[:2], dtype=x.dtype)
    for i in range(x.shape[2]):
        for j in range(x.shape[3]):
            total += x[:, :, i, j]
    return total / (x.shape[2] * x.shape[3])


# --- ECA kernel size ---------------------------------------------------------------------------

# worked by hand: t = int((log2 C + 1) / 2), k = t if t is odd else t + 1
#   C=16: (4+1)/2=2.5 -> 2 -> 3;  C=32: 3 -> 3;  C=64: 3.5 -> 3;  C=128: 4 -> 5;  C=256: 4.5 -> 4 -> 5;
#   C=512: 5 -> 5;  C=1024: 5.5 -> 5;  C=2048: 6 -> 7;  C=1: 0.5 -> 0 -> 1
ECA_TABLE = {16: 3, 32: 3, 64: 3, 128: 5, 256: 5, 512: 5, 1024: 5, 2048: 7, 1: 1}


@pytest.mark.parametrize("channels, expected", sorted(ECA_TABLE.items()))
def test_eca_kernel_size_table(channels, expected):
    assert eca_kernel_size(channels) == expected
    assert EfficientChannelAttention(channels).kernel_size == expected


def test_eca_kernel_size_gamma_b_change_it():
    # gamma=1, b=1, C=64: t = 7 -> 7;  gamma=2, b=3, C=64: t = int(4.5) = 4 -> 5
    assert eca_kernel_size(64, gamma=1, b=1) == 7
    assert eca_kernel_size(64, gamma=2, b=3) == 5
    assert EfficientChannelAttention(64, gamma=1).kernel_size == 7


# --- Squeeze-and-Excitation ---------------------------------------------------------------------


def test_squeeze_excitation_matches_eqs_2_to_4():
    se = SqueezeExcitation(8, reduction=4).to(D)
    x = rand(3, 8, 4, 5)
    out, weights = se(x)
    s = torch.sigmoid(mlp(channel_means(x), se.fc1, se.fc2))  # Eqs. 2-3
    torch.testing.assert_close(weights, s)
    for c in range(8):  # Eq. 4, channel by channel
        torch.testing.assert_close(out[:, c], s[:, c, None, None] * x[:, c])


def test_squeeze_excitation_bottleneck_width():
    assert SqueezeExcitation(64).fc1.out_features == 4
    assert SqueezeExcitation(64, reduction=8).fc1.out_features == 8
    assert SqueezeExcitation(8).fc1.out_features == 1  # 8 // 16 = 0, clamped to min_hidden
    assert SqueezeExcitation(8, min_hidden=3).fc1.out_features == 3


# --- ECA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kernel_size", [None, 1, 5])
def test_eca_matches_1d_convolution_loop(kernel_size):
    eca = EfficientChannelAttention(16, kernel_size=kernel_size).to(D)
    torch.nn.init.normal_(eca.conv.weight)
    k = eca.kernel_size
    x = rand(2, 16, 3, 4)
    out, weights = eca(x)
    y = channel_means(x)
    w = eca.conv.weight.detach().view(k)
    expected = torch.zeros_like(y)
    for c in range(16):  # zero padding: neighbours outside [0, C) contribute nothing
        for j in range(k):
            neighbour = c + j - k // 2
            if 0 <= neighbour < 16:
                expected[:, c] += w[j] * y[:, neighbour]
    expected = torch.sigmoid(expected)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(out, x * expected[:, :, None, None])
    assert eca.conv.bias is None


def test_eca_kernel_size_argument_overrides_the_adaptive_one():
    assert EfficientChannelAttention(64).conv.weight.shape[-1] == 3
    assert EfficientChannelAttention(64, kernel_size=7).conv.weight.shape[-1] == 7


# --- CBAM --------------------------------------------------------------------------------------


def test_channel_gate_matches_eq_2_with_avg_and_max_paths():
    gate = ChannelGate(8, reduction=2).to(D)
    x = rand(2, 8, 3, 3)
    out, weights = gate(x)
    avg = channel_means(x)
    peak = torch.full(x.shape[:2], -math.inf, dtype=D)
    for i in range(3):
        for j in range(3):
            peak = torch.maximum(peak, x[:, :, i, j])
    expected = torch.sigmoid(mlp(avg, gate.fc0, gate.fc1) + mlp(peak, gate.fc0, gate.fc1))
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(out, x * expected[:, :, None, None])
    assert not torch.allclose(torch.sigmoid(mlp(avg, gate.fc0, gate.fc1) * 2), expected)  # max path matters


def spatial_gate_reference(gate: SpatialGate, x: torch.Tensor) -> torch.Tensor:
    """M_s (B, 1, H, W) of Eq. 3 by an explicit loop over output pixels and kernel taps."""
    b, _, h, w = x.shape
    k = gate.kernel_size
    pooled = torch.stack([x.mean(dim=1), x.max(dim=1).values], dim=1)  # [AvgPool; MaxPool], (B, 2, H, W)
    padded = torch.zeros(b, 2, h + k - 1, w + k - 1, dtype=x.dtype)
    padded[:, :, k // 2 : k // 2 + h, k // 2 : k // 2 + w] = pooled
    weight, bias = gate.conv.weight.detach()[0], gate.conv.bias.detach()[0]  # (2, k, k), ()
    scores = torch.zeros(b, h, w, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            scores[:, i, j] = (padded[:, :, i : i + k, j : j + k] * weight).sum(dim=(1, 2, 3)) + bias
    return torch.sigmoid(scores).unsqueeze(1)


@pytest.mark.parametrize("kernel_size", [3, 7])
def test_spatial_gate_matches_eq_3_loop(kernel_size):
    gate = SpatialGate(kernel_size).to(D)
    x = rand(2, 4, 5, 6)
    out, weights = gate(x)
    expected = spatial_gate_reference(gate, x)
    assert weights.shape == (2, 1, 5, 6)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(out, x * expected)


def test_cbam_applies_channel_then_spatial():
    cbam = CBAM(8, reduction=2, spatial_kernel=3).to(D)
    x = rand(2, 8, 4, 4)
    out, channel_weights, spatial_weights = cbam(x)
    gate = cbam.channel
    m_c = torch.sigmoid(mlp(channel_means(x), gate.fc0, gate.fc1) + mlp(x.amax(dim=(2, 3)), gate.fc0, gate.fc1))
    refined = x * m_c[:, :, None, None]  # F'
    m_s = spatial_gate_reference(cbam.spatial, refined)  # M_s(F')
    torch.testing.assert_close(channel_weights, m_c)
    torch.testing.assert_close(spatial_weights, m_s)
    torch.testing.assert_close(out, refined * m_s)
    assert cbam.spatial.kernel_size == 3 and cbam.channel.fc0.out_features == 4


# --- spatial transformer -----------------------------------------------------------------------

IDENTITY = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=D)


def test_affine_warp_identity_returns_the_input():
    x = rand(2, 3, 5, 7)
    torch.testing.assert_close(affine_warp(x, IDENTITY.expand(2, 2, 3)), x)


def test_affine_warp_translation_and_flips_move_pixels():
    x = rand(1, 2, 4, 6)
    shift = torch.tensor([[[1.0, 0.0, 2 / 6], [0.0, 1.0, 0.0]]], dtype=D)  # one pixel = 2 / W
    moved = affine_warp(x, shift)
    torch.testing.assert_close(moved[..., :5], x[..., 1:])  # output column j reads input column j + 1
    torch.testing.assert_close(moved[..., 5], torch.zeros_like(x[..., 5]))  # outside: zeros
    down = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, -2 / 4]]], dtype=D)  # y_s = y_t - one row
    torch.testing.assert_close(affine_warp(x, down)[..., 1:, :], x[..., :3, :])
    mirror = torch.tensor([[[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=D)
    torch.testing.assert_close(affine_warp(x, mirror), x.flip(-1))
    upside_down = torch.tensor([[[1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]], dtype=D)
    torch.testing.assert_close(affine_warp(x, upside_down), x.flip(-2))


def test_spatial_transformer_starts_as_identity():
    stn = SpatialTransformer(3, (8, 12)).to(D)
    x = rand(2, 3, 8, 12)
    out, theta = stn(x)
    torch.testing.assert_close(theta, IDENTITY.expand(2, 2, 3))
    torch.testing.assert_close(out, x)


def test_spatial_transformer_out_size_and_transform():
    stn = SpatialTransformer(1, (8, 8), (4, 6), loc_channels=(2,), loc_hidden=4).to(D)
    x = rand(2, 1, 8, 8)
    out, theta = stn(x)
    assert out.shape == (2, 1, 4, 6) and theta.shape == (2, 2, 3)
    mirror = torch.tensor([[[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], dtype=D).expand(2, 2, 3)
    big = SpatialTransformer(1, (8, 8)).to(D)
    torch.testing.assert_close(big.transform(x, mirror), x.flip(-1))
    assert len(big.features) == 6 and big.regressor[1].out_features == 32  # two conv stages, loc_hidden


def test_spatial_transformer_localisation_drives_theta():
    stn = SpatialTransformer(1, (4, 4), loc_channels=(2, 2), loc_hidden=4).to(D)
    last = stn.regressor[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([-1.0, 0, 0, 0, 1, 0]))  # a mirror, whatever the input
    x = rand(1, 1, 4, 4)
    out, theta = stn(x)
    torch.testing.assert_close(theta, torch.tensor([[[-1.0, 0, 0], [0, 1, 0]]], dtype=D))
    torch.testing.assert_close(out, x.flip(-1))


# --- non-local block ---------------------------------------------------------------------------


def non_local_reference(block: NonLocalAttention, x: torch.Tensor):
    """z and the weights by a loop over query pixels i (row-major), Eqs. 1, 3 and 6 per head."""
    b, c, h, w = x.shape
    nh, dh = block.n_heads, block.head_dim

    def conv1x1(conv, pixel):  # (B, C) -> (B, Ci)
        return pixel @ conv.weight.detach()[:, :, 0, 0].T + conv.bias.detach()

    pixels = [x[:, :, r, col] for r in range(h) for col in range(w)]  # index = r * W + col
    thetas = [conv1x1(block.theta, p) for p in pixels]
    phis = [conv1x1(block.phi, p) for p in pixels]
    gs = [conv1x1(block.g, p) for p in pixels]
    weights = torch.zeros(b, nh, h * w, h * w, dtype=x.dtype)
    z = torch.zeros_like(x)
    for i in range(h * w):
        y_i = torch.zeros(b, nh * dh, dtype=x.dtype)
        for head in range(nh):
            part = slice(head * dh, (head + 1) * dh)
            f = torch.stack([torch.exp((thetas[i][:, part] * phis[j][:, part]).sum(-1)) for j in range(h * w)], -1)
            weights[:, head, i] = f / f.sum(-1, keepdim=True)  # C(x) = sum_j f(x_i, x_j)
            y_i[:, part] = sum(weights[:, head, i, j, None] * gs[j][:, part] for j in range(h * w))
        z_i = conv1x1(block.out, y_i) + (pixels[i] if block.residual else 0)  # Eq. 6
        z[:, :, i // w, i % w] = z_i
    return z, weights


@pytest.mark.parametrize("n_heads", [1, 2])
@pytest.mark.parametrize("residual", [True, False])
def test_non_local_matches_per_pixel_loop(n_heads, residual):
    block = NonLocalAttention(4, inner_channels=4, n_heads=n_heads, residual=residual, zero_init=False).to(D)
    x = rand(2, 4, 3, 2)
    z, weights = non_local_reference(block, x)
    out, got = block(x, need_weights=True)
    torch.testing.assert_close(out, z)
    torch.testing.assert_close(got, weights.squeeze(1) if n_heads == 1 else weights)
    assert got.shape == ((2, 6, 6) if n_heads == 1 else (2, 2, 6, 6))
    torch.testing.assert_close(got.sum(-1), torch.ones(got.shape[:-1], dtype=D))
    fused, none = block(x)  # need_weights=False: the fused kernel
    assert none is None
    torch.testing.assert_close(fused, z)


def test_non_local_zero_init_is_identity_and_default_width():
    block = NonLocalAttention(6).to(D)
    assert block.inner_channels == 3 and block.n_heads == 1
    x = rand(2, 6, 3, 3)
    torch.testing.assert_close(block(x).output, x)
    assert not torch.allclose(NonLocalAttention(6, zero_init=False).to(D)(x).output, x)


def test_non_local_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        NonLocalAttention(8, inner_channels=6, n_heads=4)


# --- attention rollout -------------------------------------------------------------------------


def softmax_rows(*shape: int) -> torch.Tensor:
    return torch.softmax(rand(*shape), dim=-1)


def test_rollout_of_identity_attention_is_identity():
    eye = torch.eye(5, dtype=D).expand(2, 3, 5, 5)
    for residual in (True, False):
        rollout = attention_rollout([eye, eye, eye], residual=residual)
        torch.testing.assert_close(rollout, torch.eye(5, dtype=D).expand(2, 5, 5))


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
def test_rollout_of_one_layer_is_half_attention_half_identity(fusion):
    w = softmax_rows(2, 3, 4, 4)
    fused = {
        "mean": w.sum(1) / 3,
        "max": torch.maximum(torch.maximum(w[:, 0], w[:, 1]), w[:, 2]),
        "min": torch.minimum(torch.minimum(w[:, 0], w[:, 1]), w[:, 2]),
    }[fusion]
    a = 0.5 * fused + 0.5 * torch.eye(4, dtype=D)
    expected = a / a.sum(-1, keepdim=True)
    torch.testing.assert_close(attention_rollout([w], head_fusion=fusion), expected)


def test_rollout_of_two_layers_by_hand():
    w1 = torch.tensor([[[0.5, 0.5], [0.2, 0.8]]], dtype=D)  # A1 = [[0.75, 0.25], [0.1, 0.9]]
    w2 = torch.tensor([[[1.0, 0.0], [0.6, 0.4]]], dtype=D)  # A2 = [[1, 0], [0.3, 0.7]]
    expected = torch.tensor([[[0.75, 0.25], [0.295, 0.705]]], dtype=D)  # A2 @ A1
    torch.testing.assert_close(attention_rollout([w1, w2]), expected)
    # the other order, A1 @ A2 = [[0.825, 0.175], [0.37, 0.63]]: the order of the list matters
    torch.testing.assert_close(attention_rollout([w2, w1]), torch.tensor([[[0.825, 0.175], [0.37, 0.63]]], dtype=D))
    # without the residual: W2 @ W1 = [[0.5, 0.5], [0.38, 0.62]]
    torch.testing.assert_close(
        attention_rollout([w1, w2], residual=False), torch.tensor([[[0.5, 0.5], [0.38, 0.62]]], dtype=D)
    )


def test_rollout_discards_the_smallest_weights_per_row():
    w = torch.tensor(
        [[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.4, 0.1], [0.7, 0.1, 0.15, 0.05]]], dtype=D
    )
    expected = torch.tensor(
        [
            [
                [0, 0, 3 / 7, 4 / 7],
                [4 / 7, 3 / 7, 0, 0],
                [0, 0.25 / 0.65, 0.4 / 0.65, 0],
                [0.7 / 0.85, 0, 0.15 / 0.85, 0],
            ]
        ],
        dtype=D,
    )
    got = attention_rollout([w], residual=False, discard_ratio=0.5)
    # row 2 has a tie (0.25, 0.25): exactly one of the two is dropped
    torch.testing.assert_close(got[:, [0, 1, 3]], expected[:, [0, 1, 3]])
    assert (got[0, 2] == 0).sum() == 2 and math.isclose(got[0, 2, 2].item(), 0.4 / 0.65)
    # a share below one entry per row discards nothing
    torch.testing.assert_close(attention_rollout([w], residual=False, discard_ratio=0.2), w / w.sum(-1, keepdim=True))


def test_rollout_takes_three_dimensional_maps_as_they_are():
    w = softmax_rows(2, 4, 4)
    torch.testing.assert_close(attention_rollout([w]), attention_rollout([w.unsqueeze(1)]))


@pytest.mark.parametrize(
    "weights, kwargs, message",
    [
        ([], {}, "empty"),
        ([torch.rand(2, 3, 4)], {}, "square"),
        ([torch.rand(4, 4)], {}, "square"),
        ([torch.rand(2, 4, 4), torch.rand(2, 5, 5)], {}, "same B and T"),
        ([torch.rand(2, 4, 4), torch.rand(3, 2, 4, 4)], {}, "same B and T"),
        ([torch.rand(2, 4, 4)], {"head_fusion": "median"}, "mean, max, min"),
        ([torch.rand(2, 4, 4)], {"discard_ratio": 1.0}, r"\[0, 1\)"),
    ],
)
def test_rollout_errors(weights, kwargs, message):
    with pytest.raises(ValueError, match=message):
        attention_rollout(weights, **kwargs)


# --- gradients ---------------------------------------------------------------------------------


def module_cases():
    stn = SpatialTransformer(2, (4, 4), loc_channels=(2, 2), loc_hidden=4)
    torch.nn.init.normal_(stn.regressor[-1].weight, std=0.1)  # let theta depend on the input
    return [
        (SqueezeExcitation(4, reduction=2), (2, 4, 3, 3)),
        (EfficientChannelAttention(4, kernel_size=3), (2, 4, 3, 3)),
        (ChannelGate(4, reduction=2), (2, 4, 3, 3)),
        (SpatialGate(3), (2, 4, 3, 3)),
        (CBAM(4, reduction=2, spatial_kernel=3), (2, 4, 3, 3)),
        (stn, (1, 2, 4, 4)),
        (NonLocalAttention(4, n_heads=2, zero_init=False), (1, 4, 2, 3)),
    ]


@pytest.mark.parametrize("index", range(7))
def test_gradcheck_modules(index):
    module, shape = module_cases()[index]
    module = module.to(D)
    x = rand(*shape).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: tuple(v for v in module(t) if v is not None), (x,))


def test_gradcheck_non_local_with_weights():
    block = NonLocalAttention(2, inner_channels=2, zero_init=False).to(D)
    x = rand(1, 2, 2, 2).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: tuple(block(t, need_weights=True)), (x,))


@pytest.mark.parametrize("kwargs", [{}, {"head_fusion": "max", "discard_ratio": 0.3}, {"residual": False}])
def test_gradcheck_rollout(kwargs):
    w1, w2 = softmax_rows(1, 2, 4, 4).requires_grad_(), softmax_rows(1, 2, 4, 4).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: attention_rollout([a, b], **kwargs), (w1, w2))


@pytest.mark.parametrize("index", range(7))
def test_every_parameter_gets_a_finite_gradient(index):
    module, shape = module_cases()[index]
    module(torch.randn(*shape)).output.square().sum().backward()
    for name, parameter in module.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name


# --- properties --------------------------------------------------------------------------------

image_shapes = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5))


@settings(max_examples=25, deadline=None)
@given(shape=image_shapes, seed=st.integers(0, 2**16))
def test_channel_and_spatial_gates_lie_in_0_1_and_keep_the_shape(shape, seed):
    torch.manual_seed(seed)
    b, c, h, w = shape
    x = rand(b, c, h, w)
    for module in (SqueezeExcitation(c, reduction=2), EfficientChannelAttention(c), CBAM(c, reduction=2)):
        result = module.to(D)(x)
        assert result.output.shape == x.shape
        for weights in result[1:]:
            assert ((weights > 0) & (weights < 1)).all()
        assert result[1].shape == (b, c)
    assert CBAM(c).to(D)(x).spatial_weights.shape == (b, 1, h, w)


@settings(max_examples=15, deadline=None)
@given(shape=image_shapes, n_heads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16))
def test_non_local_weights_are_distributions(shape, n_heads, seed):
    torch.manual_seed(seed)
    b, c, h, w = shape
    block = NonLocalAttention(c, inner_channels=2 * n_heads, n_heads=n_heads, zero_init=False).to(D)
    out, weights = block(rand(b, c, h, w), need_weights=True)
    assert out.shape == (b, c, h, w)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1], dtype=D))


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        SqueezeExcitation(4),
        EfficientChannelAttention(4),
        ChannelGate(4),
        CBAM(4),
        NonLocalAttention(4),
        SpatialTransformer(4, (8, 8)),
    ],
)
def test_wrong_rank_and_channels_raise(module):
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        module(torch.randn(4, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) with C=4"):
        module(torch.randn(1, 3, 8, 8))


def test_other_errors():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        SpatialGate()(torch.randn(3, 5, 5))
    with pytest.raises(ValueError, match="odd"):
        SpatialGate(4)
    with pytest.raises(ValueError, match="odd"):
        EfficientChannelAttention(16, kernel_size=2)
    with pytest.raises(ValueError, match=r"\(H, W\)=\(8, 8\)"):
        SpatialTransformer(1, (8, 8))(torch.randn(1, 1, 8, 9))
    with pytest.raises(ValueError, match="too small"):
        SpatialTransformer(1, (3, 8))
    with pytest.raises(ValueError, match=r"theta must be \(B, 2, 3\)"):
        affine_warp(torch.randn(2, 1, 4, 4), torch.randn(1, 2, 3))
    with pytest.raises(ValueError, match=">= 1"):
        eca_kernel_size(0)
    with pytest.raises(ValueError, match=">= 1"):
        SqueezeExcitation(8, reduction=0)


# --- catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, key",
    [
        ("SqueezeExcitation", "Hu18"),
        ("EfficientChannelAttention", "Wang20"),
        ("ChannelGate", "Woo18"),
        ("SpatialGate", "Woo18"),
        ("CBAM", "Woo18"),
        ("SpatialTransformer", "Jaderberg15"),
        ("NonLocalAttention", "Wang18"),
    ],
)
def test_registered_with_a_citation(name, key):
    entry = MODULES.entry(name)
    assert entry.reference == f"[{key}]" and key in CITATIONS
    assert CITATIONS[key] in expand(entry.reference)
