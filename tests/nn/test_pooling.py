"""AttentionPooling against [Yang16] Eqs. 5-7 written out with loops, plus masking and gradients."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.functional import Attended
from attnkit.nn.pooling import AttentionPooling

F64 = torch.float64
B, T, D, DA = 3, 5, 4, 6


def _inputs(b: int = B, t: int = T, d: int = D) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randn(b, t, d, dtype=F64, generator=g)


def _lengths_mask(lengths, t: int = T) -> torch.Tensor:
    return torch.tensor([[j < n for j in range(t)] for n in lengths])  # (B, T)


def _reference(module: AttentionPooling, values: torch.Tensor, mask: torch.Tensor | None):
    """Eqs. 5-7 from Python floats: u_j = tanh(W h_j + b), alpha_j ∝ exp(u_j . u_w), s = sum alpha_j h_j."""
    w, bias = module.proj.weight.tolist(), module.proj.bias.tolist()  # (Da, D), (Da,)
    uw = module.context.tolist()  # (Da,)
    contexts, weights = [], []
    for b in range(values.shape[0]):
        h = values[b].tolist()
        scores = []
        for j in range(len(h)):
            u = [math.tanh(sum(w[a][d] * h[j][d] for d in range(len(h[j]))) + bias[a]) for a in range(len(uw))]
            scores.append(sum(u[a] * uw[a] for a in range(len(uw))))  # Eq. 5 then u_j^T u_w
        keep = [j for j in range(len(h)) if mask is None or bool(mask[b, j])]
        alpha = [0.0] * len(h)
        if keep:
            m = max(scores[j] for j in keep)
            z = sum(math.exp(scores[j] - m) for j in keep)
            for j in keep:
                alpha[j] = math.exp(scores[j] - m) / z  # Eq. 6
        contexts.append([sum(alpha[j] * h[j][d] for j in range(len(h))) for d in range(len(h[0]))])  # Eq. 7
        weights.append(alpha)
    return torch.tensor(contexts, dtype=F64), torch.tensor(weights, dtype=F64)


@pytest.mark.parametrize("lengths", [None, (5, 2, 1)])
def test_matches_paper_equations(lengths):
    module = AttentionPooling(D, DA).double()
    values = _inputs()
    mask = None if lengths is None else _lengths_mask(lengths)
    out = module(values, mask)
    assert isinstance(out, Attended)
    assert out.context.shape == (B, D) and out.weights.shape == (B, T)
    ref_context, ref_weights = _reference(module, values, mask)
    torch.testing.assert_close(out.weights, ref_weights)
    torch.testing.assert_close(out.context, ref_context)


def test_mask_gives_exact_zeros_and_ignores_padding_values():
    module = AttentionPooling(D, DA).double()
    values = _inputs()
    mask = _lengths_mask((3, 5, 1))
    out = module(values, mask)
    assert torch.all(out.weights[~mask] == 0)
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, dtype=F64))
    changed = values.clone()
    changed[~mask] = 1e3 * torch.randn(int((~mask).sum()), D, dtype=F64)
    again = module(changed, mask)
    torch.testing.assert_close(again.context, out.context, rtol=0, atol=0)
    torch.testing.assert_close(again.weights, out.weights, rtol=0, atol=0)


def test_fully_masked_row_gives_zeros_not_nan():
    module = AttentionPooling(D, DA).double()
    values = _inputs()
    mask = _lengths_mask((0, 2, 0))
    out = module(values, mask)
    assert torch.isfinite(out.context).all() and torch.isfinite(out.weights).all()
    for b in (0, 2):
        assert torch.all(out.context[b] == 0) and torch.all(out.weights[b] == 0)
    assert out.weights[1].sum().item() == pytest.approx(1.0)
    out.context.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters())


def test_gradcheck_float64():
    module = AttentionPooling(D, DA).double()
    values = _inputs(b=2).requires_grad_()
    mask = _lengths_mask((5, 3))
    params = (module.proj.weight, module.proj.bias, module.context)

    def fn(v, w, bias, uw):
        return torch.func.functional_call(
            module, {"proj.weight": w, "proj.bias": bias, "context": uw}, (v, mask)
        ).context

    inputs = (values, *(p.detach().clone().requires_grad_() for p in params))
    assert torch.autograd.gradcheck(fn, inputs)


def test_rejects_bad_shapes():
    module = AttentionPooling(D, DA)
    with pytest.raises(ValueError, match="values must be"):
        module(torch.randn(B, T))
    with pytest.raises(ValueError, match="values must be"):
        module(torch.randn(B, T, D + 1))
    with pytest.raises(ValueError, match="mask must be"):
        module(torch.randn(B, T, D), torch.ones(B, T + 1, dtype=torch.bool))
    with pytest.raises(TypeError):
        module(torch.randn(B, T, D), torch.ones(B, T))
