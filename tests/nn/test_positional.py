"""Positional encodings against the papers' formulas written out independently, plus properties."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.nn.positional import (
    POSITIONAL,
    ALiBi,
    LearnedPositionalEncoding,
    NoPositionalEncoding,
    PositionKind,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    build_positional,
)

F64 = torch.float64


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


# --- sinusoidal -------------------------------------------------------------------------------


@pytest.mark.parametrize("d_model", [8, 7])
def test_sinusoidal_matches_paper_formula(d_model):
    max_len = 50
    pe = SinusoidalPositionalEncoding(d_model, max_len=max_len)
    out = pe(torch.zeros(1, max_len, d_model, dtype=F64))[0]
    expected = [[0.0] * d_model for _ in range(max_len)]
    for pos in range(max_len):
        for i in range((d_model + 1) // 2):
            angle = pos / 10000 ** (2 * i / d_model)
            expected[pos][2 * i] = math.sin(angle)  # PE(pos, 2i)
            if 2 * i + 1 < d_model:
                expected[pos][2 * i + 1] = math.cos(angle)  # PE(pos, 2i+1)
    torch.testing.assert_close(out, torch.tensor(expected, dtype=F64), rtol=0, atol=1e-12)


def test_sinusoidal_adds_to_input_and_keeps_dtype():
    pe = SinusoidalPositionalEncoding(6, max_len=10)
    x = torch.randn(2, 4, 6)
    out = pe(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out - x, pe(torch.zeros(1, 4, 6)).expand(2, 4, 6))


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEncoding])
def test_embedding_offset_equals_slice_of_full(cls):
    pe = cls(8, max_len=16)
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(pe(x[:, 3:5], offset=3), pe(x)[:, 3:5])


def test_sinusoidal_buffer_not_in_state_dict():
    pe = SinusoidalPositionalEncoding(8, max_len=16)
    assert "table" in dict(pe.named_buffers())
    assert pe.state_dict() == {}
    SinusoidalPositionalEncoding(8, max_len=32).load_state_dict(pe.state_dict())  # strict


def test_embedding_dropout_has_effect_in_train_mode_only():
    pe = SinusoidalPositionalEncoding(8, max_len=16, dropout=0.5)
    x = torch.randn(3, 10, 8)
    assert (pe.train()(x) == 0).any()
    torch.testing.assert_close(pe.eval()(x), SinusoidalPositionalEncoding(8, max_len=16)(x))


# --- learned ----------------------------------------------------------------------------------


def test_learned_adds_its_table_and_gradient_reaches_it():
    pe = LearnedPositionalEncoding(8, max_len=12)
    assert pe.weight.shape == (12, 8)
    x = torch.randn(2, 5, 8)
    out = pe(x, offset=4)
    assert out.shape == (2, 5, 8)
    torch.testing.assert_close(out, x + pe.weight[4:9].detach())
    out.sum().backward()
    grad = pe.weight.grad
    assert torch.equal(grad[4:9], torch.full((5, 8), 2.0))  # two batch items per row
    assert torch.count_nonzero(grad[:4]) == 0 and torch.count_nonzero(grad[9:]) == 0


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEncoding])
def test_embedding_positions_beyond_max_len_raise(cls):
    pe = cls(8, max_len=10)
    pe(torch.zeros(1, 10, 8))  # exactly max_len positions is fine
    with pytest.raises(ValueError, match="max_len=10.*raise max_len to at least 11"):
        pe(torch.zeros(1, 10, 8), offset=1)
    with pytest.raises(ValueError, match="offset must be >= 0"):
        pe(torch.zeros(1, 2, 8), offset=-1)


@pytest.mark.parametrize("cls", [SinusoidalPositionalEncoding, LearnedPositionalEncoding])
def test_embedding_width_mismatch_raises(cls):
    pe = cls(8, max_len=10)
    with pytest.raises(ValueError, match=r"D = d_model = 8, got \(2, 3, 6\)"):
        pe(torch.zeros(2, 3, 6))
    with pytest.raises(ValueError, match="B, T, D"):
        pe(torch.zeros(3, 8))


# --- RoPE -------------------------------------------------------------------------------------


def _rope_reference(x: torch.Tensor, positions: list[int], base: float = 10000.0) -> torch.Tensor:
    """[Su21] Eq. 34 as explicit 2x2 rotation matrices on pairs (x_{2i}, x_{2i+1}); x (T, Dh)."""
    t, dh = x.shape
    out = torch.empty_like(x)
    for row, m in enumerate(positions):
        for i in range(dh // 2):
            theta = base ** (-2 * i / dh)
            c, s = math.cos(m * theta), math.sin(m * theta)
            rot = torch.tensor([[c, -s], [s, c]], dtype=F64)
            out[row, 2 * i : 2 * i + 2] = rot @ x[row, 2 * i : 2 * i + 2]
    return out


@pytest.mark.parametrize("offset", [0, 5])
def test_rope_matches_rotation_matrix_reference(offset):
    rope = RotaryEmbedding(8, max_len=32)
    x = _randn(2, 3, 4, 8)  # (B, Nh, T, Dh)
    out = rope.rotate(x, offset=offset)
    for b in range(2):
        for h in range(3):
            ref = _rope_reference(x[b, h], list(range(offset, offset + 4)))
            torch.testing.assert_close(out[b, h], ref, rtol=0, atol=1e-12)


def test_rope_base_has_effect():
    x = _randn(1, 1, 4, 8)
    slow = RotaryEmbedding(8, base=100.0).rotate(x)
    torch.testing.assert_close(slow[0, 0], _rope_reference(x[0, 0], [0, 1, 2, 3], base=100.0))
    assert not torch.allclose(slow, RotaryEmbedding(8).rotate(x))


def test_rope_score_depends_only_on_relative_position():
    rope = RotaryEmbedding(16, max_len=64)
    q, k = _randn(16, seed=1), _randn(16, seed=2)

    def score(m: int, n: int) -> float:
        rq = rope.rotate(q.view(1, 1, 1, 16), offset=m)
        rk = rope.rotate(k.view(1, 1, 1, 16), offset=n)
        return float((rq * rk).sum())

    for delta in (0, 3, -7):
        pairs = [(m, m - delta) for m in (7, 12, 30, 50)]
        scores = [score(m, n) for m, n in pairs]
        for s in scores[1:]:
            assert s == pytest.approx(scores[0], rel=0, abs=1e-12)
    assert score(10, 10) == pytest.approx(float(q @ k), abs=1e-12)  # no rotation between equals
    assert abs(score(10, 7) - score(10, 3)) > 1e-3  # and it does depend on m - n


def test_rope_preserves_norms_and_dtype():
    rope = RotaryEmbedding(8, max_len=32)
    x = _randn(2, 3, 20, 8)
    out = rope(x, offset=4)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
    assert rope(x.float()).dtype == torch.float32


def test_rope_offset_equals_slice_of_longer_rotation():
    rope = RotaryEmbedding(8, max_len=32)
    x = _randn(2, 2, 10, 8)
    torch.testing.assert_close(rope.rotate(x[:, :, 6:9], offset=6), rope.rotate(x)[:, :, 6:9])
    torch.testing.assert_close(rope(x), rope.rotate(x))


def test_rope_errors():
    with pytest.raises(ValueError, match="head_dim must be positive and even, got 7"):
        RotaryEmbedding(7)
    rope = RotaryEmbedding(8, max_len=10)
    with pytest.raises(ValueError, match=r"Dh = head_dim = 8, got \(1, 2, 3, 6\)"):
        rope.rotate(torch.zeros(1, 2, 3, 6))
    with pytest.raises(ValueError, match="raise max_len to at least 12"):
        rope.rotate(torch.zeros(1, 2, 4, 8), offset=8)


def test_rope_tables_are_not_in_state_dict():
    assert RotaryEmbedding(8).state_dict() == {}


# --- ALiBi ------------------------------------------------------------------------------------


def test_alibi_slopes_for_eight_heads():
    assert ALiBi(8).slopes.tolist() == [2.0**-h for h in range(1, 9)]


def _paper_slopes(n: int) -> list[float]:
    """[Press21]: geometric sequence starting at and with ratio 2^(-8/n) for n a power of two;
    otherwise the reference code's interleaving, written with explicit exponents."""
    p = 1
    while p * 2 <= n:
        p *= 2
    base = [2.0 ** (-8.0 / p * h) for h in range(1, p + 1)]
    extra = [2.0 ** (-8.0 / (2 * p) * h) for h in range(1, 2 * (n - p), 2)]  # odd heads of 2p
    return base + extra


@pytest.mark.parametrize("n_heads", [1, 2, 6, 12, 16])
def test_alibi_slopes_follow_reference_recipe(n_heads):
    torch.testing.assert_close(ALiBi(n_heads).slopes, torch.tensor(_paper_slopes(n_heads)))


def test_alibi_slopes_for_six_heads_explicitly():
    # four heads' 2^-2 .. 2^-8, then heads 1 and 3 of eight heads' 2^-1 .. 2^-8
    assert ALiBi(6).slopes.tolist() == [2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]


@pytest.mark.parametrize("tq, tk, offset", [(5, 5, None), (2, 7, None), (3, 6, 1), (1, 4, 0)])
def test_alibi_bias_matches_loop(tq, tk, offset):
    alibi = ALiBi(4)
    bias = alibi.bias(tq, tk, offset=offset, dtype=F64)
    assert bias.shape == (4, tq, tk) and bias.dtype == F64
    start = tk - tq if offset is None else offset
    slopes = _paper_slopes(4)
    for h in range(4):
        for i in range(tq):
            for j in range(tk):
                qpos = start + i
                dist = qpos - j if j <= qpos else j - qpos  # symmetric for future keys
                assert bias[h, i, j].item() == -slopes[h] * dist


def test_alibi_queries_default_to_last_positions():
    alibi = ALiBi(2)
    full = alibi.bias(6, 6)
    torch.testing.assert_close(alibi.bias(2, 6), full[:, 4:])  # KV-cache style
    torch.testing.assert_close(alibi.bias(1, 6)[:, 0, -1], torch.zeros(2))  # own position
    torch.testing.assert_close(alibi.bias(2, 6, offset=1), full[:, 1:3])
    torch.testing.assert_close(alibi(2, 6), alibi.bias(2, 6))


def test_alibi_causal_part_matches_paper_and_is_symmetric():
    bias = ALiBi(8).bias(5, 5)
    slope = 2.0**-1
    assert bias[0, 4].tolist() == [-slope * 4, -slope * 3, -slope * 2, -slope, 0.0]  # Fig. 3
    torch.testing.assert_close(bias, bias.transpose(-1, -2))


def test_alibi_dtype_and_errors():
    alibi = ALiBi(4)
    assert alibi.bias(3, 3).dtype == torch.float32
    bf = alibi.bias(1, 300, dtype=torch.bfloat16)
    assert bf.dtype == torch.bfloat16
    assert torch.equal(bf, alibi.bias(1, 300, dtype=F64).to(torch.bfloat16))  # rounded once
    with pytest.raises(ValueError, match="pass offset="):
        alibi.bias(5, 3)
    with pytest.raises(ValueError, match="offset must be >= 0"):
        alibi.bias(2, 3, offset=-1)
    with pytest.raises(ValueError, match="n_heads must be >= 1"):
        ALiBi(0)
    assert ALiBi(4).state_dict() == {}


# --- none, registry, builder --------------------------------------------------------------------


def test_none_returns_input():
    x = torch.randn(2, 3, 4)
    assert NoPositionalEncoding()(x, offset=5) is x


def test_registry_names_and_unknown_name():
    assert POSITIONAL.names() == ["sinusoidal", "sinusoidal-halves", "learned", "rope", "alibi", "none"]
    for entry in POSITIONAL:
        assert entry.description
        assert isinstance(entry.obj.kind, PositionKind)
    with pytest.raises(ValueError, match="sinusoidal, sinusoidal-halves, learned, rope, alibi, none"):
        POSITIONAL.get("relative")


@pytest.mark.parametrize(
    "name, cls, kind",
    [
        ("sinusoidal", SinusoidalPositionalEncoding, PositionKind.EMBEDDINGS),
        ("learned", LearnedPositionalEncoding, PositionKind.EMBEDDINGS),
        ("rope", RotaryEmbedding, PositionKind.ROTARY),
        ("alibi", ALiBi, PositionKind.SCORE_BIAS),
        ("none", NoPositionalEncoding, PositionKind.NONE),
    ],
)
def test_build_positional(name, cls, kind):
    module = build_positional(name, d_model=16, n_heads=4, max_len=32, dropout=0.1)
    assert type(module) is cls and module.kind is kind
    if kind is PositionKind.EMBEDDINGS:
        assert module.max_len == 32 and module.dropout.p == 0.1
    elif kind is PositionKind.ROTARY:
        assert module.head_dim == 4 and module.max_len == 32
    elif kind is PositionKind.SCORE_BIAS:
        assert module.slopes.shape == (4,)


def test_build_positional_errors():
    with pytest.raises(ValueError, match="not divisible by n_heads=3"):
        build_positional("rope", d_model=16, n_heads=3, max_len=8)
    with pytest.raises(ValueError, match="head_dim must be positive and even"):
        build_positional("rope", d_model=12, n_heads=4, max_len=8)
    with pytest.raises(ValueError, match="choose one of"):
        build_positional("bogus", d_model=16, n_heads=4, max_len=8)
