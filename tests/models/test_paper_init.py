"""Seq2Seq(init=...): "paper" has the statistics of [Bahdanau15] App. B.1 / [Luong15] Sec. 4.1,
"torch" leaves PyTorch's default initialisation."""

import math

import pytest
import torch

from attnkit.models import DECODERS, Seq2Seq

H, E, V = 64, 48, 50
BAHDANAU_FAMILY = ("none", "bahdanau", "bahdanau-coverage", "location-aware")
LUONG_FAMILY = [n for n in DECODERS.names() if n not in BAHDANAU_FAMILY]


def _model(attention="bahdanau", cell="gru", **kw):
    torch.manual_seed(0)
    if attention == "luong-dot":
        kw["bidirectional"] = False
    return Seq2Seq(V, V, attention=attention, cell=cell, emb_dim=E, hidden_dim=H, **kw)


def _assert_std(values: torch.Tensor, std: float, name: str) -> None:
    """Sample mean ~ 0 and std within 8 % of `std` (>= 1000 samples: the sampling error is < 3 %)."""
    assert values.numel() >= 1000, name
    assert abs(values.mean().item()) < 4 * std / math.sqrt(values.numel()), name
    assert abs(values.std().item() / std - 1) < 0.08, (name, values.std().item())


def _is_orthogonal(block: torch.Tensor) -> bool:
    eye = torch.eye(block.shape[0], dtype=torch.float64)
    b = block.double()
    return torch.allclose(b @ b.T, eye, atol=1e-5) and torch.allclose(b.T @ b, eye, atol=1e-5)


@pytest.mark.parametrize("cell, gates", [("gru", 3), ("lstm", 4)])
@pytest.mark.parametrize("attention", BAHDANAU_FAMILY)
def test_paper_init_of_the_bahdanau_family_follows_appendix_b1(attention, cell, gates):
    model = _model(attention, cell, init="paper")
    others, small = [], []
    recurrent = 0
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        p = p.detach()
        if leaf.startswith("bias") or leaf in ("energy", "coverage_proj"):  # all biases, v_a, V_a
            assert torch.count_nonzero(p) == 0, name
        elif leaf.startswith("weight_hh"):  # U, U_z, U_r (and the LSTM's): each gate orthogonal
            assert p.shape == (gates * H, H), name
            assert all(_is_orthogonal(p[g * H : (g + 1) * H]) for g in range(gates)), name
            recurrent += 1
        elif name.startswith("decoder.attention.") and leaf == "weight":  # W_a and U_a (and U of location-aware)
            small.append(p.flatten())
        elif "embedding" in name:
            assert torch.count_nonzero(p[0]) == 0, name  # the padding row stays zero
            others.append(p[1:].flatten())
        else:
            others.append(p.flatten())
    assert recurrent == 3  # encoder forward and backward, decoder
    for values in others:  # every other weight matrix: N(0, 0.01^2)
        if values.numel() >= 1000:
            _assert_std(values, 0.01, "other")
    _assert_std(torch.cat(others), 0.01, "all other weights")
    if small:
        _assert_std(torch.cat(small), 0.001, "the score's matrices")


def test_paper_init_names_the_attention_matrices_it_makes_small():
    att = _model("bahdanau", init="paper").decoder.attention
    for p in (att.query_proj.weight, att.key_proj.weight):  # W_a (Da, Dd), U_a (Da, Dk)
        _assert_std(p.detach().flatten(), 0.001, "W_a/U_a")
    assert torch.count_nonzero(att.energy) == 0 and torch.count_nonzero(att.key_proj.bias) == 0


@pytest.mark.parametrize("attention", LUONG_FAMILY)
def test_paper_init_of_the_luong_family_is_uniform_in_a_tenth(attention):
    model = _model(attention, init="paper")
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert values.abs().max() <= 0.1
    assert values.abs().max() > 0.099  # it spans the interval
    assert abs(values.std().item() / (0.1 / math.sqrt(3)) - 1) < 0.03  # U(-a, a) has std a / sqrt(3)
    assert abs(values.mean().item()) < 1e-3
    for emb in (model.encoder.embedding, model.tgt_embedding):
        assert torch.count_nonzero(emb.weight[0]) == 0


@pytest.mark.parametrize("attention", DECODERS.names())
def test_torch_init_is_the_default_and_keeps_pytorchs_initialisation(attention):
    default, torch_init = _model(attention), _model(attention, init="torch")
    for (name, p), q in zip(default.state_dict().items(), torch_init.state_dict().values()):
        assert torch.equal(p, q), name
    gru = torch_init.encoder.rnn
    bound = 1 / math.sqrt(H)  # PyTorch's RNNs: U(-1/sqrt(H), 1/sqrt(H)) for weights and biases
    for name, p in gru.named_parameters():
        assert p.abs().max() <= bound, name
        assert abs(p.std().item() / (bound / math.sqrt(3)) - 1) < 0.15, name
    hh = gru.weight_hh_l0.detach()
    assert not _is_orthogonal(hh[:H])
    emb = torch_init.encoder.embedding.weight.detach()[1:]  # nn.Embedding: N(0, 1)
    assert abs(emb.std().item() - 1) < 0.1
    linear = torch_init.generator  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too
    fan_in = linear.weight.shape[1]
    assert linear.weight.abs().max() <= 1 / math.sqrt(fan_in)
    assert linear.weight.abs().max() > 0.9 / math.sqrt(fan_in)
    assert torch.count_nonzero(linear.bias) == linear.bias.numel()


def test_paper_init_is_seeded_and_differs_from_torch():
    a, b = _model(init="paper"), _model(init="paper")
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    torch_model = _model()
    assert not torch.equal(a.generator.weight, torch_model.generator.weight)


def test_unknown_init_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown init 'xavier'; choose one of: torch, paper"):
        _model(init="xavier")
