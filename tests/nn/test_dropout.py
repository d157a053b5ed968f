"""attnkit's CPU dropout: the drop rate and scale written plainly (p rounded to 2**-16, survivors
scaled by 1 / (1 - that p)), exact zeros, independent neighbours, the gradient, reproducibility,
and nn.Dropout's module behaviour."""

import math

import pytest
import torch

from attnkit.nn.dropout import Dropout, dropout


def _rounded(p: float) -> float:
    return round(p * 65536) / 65536


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drop_rate_and_scale_match_the_rounded_probability(p):
    torch.manual_seed(0)
    n = 4_000_003  # not a multiple of 4: the last 64-bit draw is cut
    x = torch.full((n,), 2.0)
    y = dropout(x, p)
    dropped = y == 0
    q = _rounded(p)
    sigma = math.sqrt(q * (1 - q) / n)
    assert abs(dropped.double().mean().item() - q) < 5 * sigma
    survivors = y[~dropped]
    assert torch.equal(survivors, torch.full_like(survivors, 2.0 / (1 - q)))
    assert abs(y.double().mean().item() - 2.0) < 5 * 2.0 / (1 - q) * sigma  # the expectation is kept


def test_neighbouring_elements_are_dropped_independently():
    torch.manual_seed(1)
    p, n = 0.5, 2_000_000
    dropped = (dropout(torch.ones(n), p) == 0).double()
    for lag in (1, 2, 3, 4, 5):  # the four 16-bit pieces of one 64-bit draw, and the next draw
        both = (dropped[:-lag] * dropped[lag:]).mean().item()
        assert abs(both - 0.25) < 5 * math.sqrt(0.25 * 0.75 / n), lag


def test_gradient_is_the_mask_times_the_scale_float64():
    x = torch.randn(3, 50, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(2)
    y = dropout(x, 0.25)
    (g,) = torch.autograd.grad((y * torch.arange(150.0, dtype=torch.float64).view(3, 50)).sum(), x)
    kept = (y != 0).double()
    want = kept * torch.arange(150.0, dtype=torch.float64).view(3, 50) / (1 - _rounded(0.25))
    torch.testing.assert_close(g, want)

    def reseeded(x):
        torch.manual_seed(3)
        return dropout(x, 0.25)

    assert torch.autograd.gradcheck(reseeded, (x,))


def test_reproducible_from_the_seed_and_bfloat16_stays_bfloat16():
    x = torch.randn(1000, dtype=torch.bfloat16)
    torch.manual_seed(4)
    a = dropout(x, 0.1)
    torch.manual_seed(4)
    b = dropout(x, 0.1)
    c = dropout(x, 0.1)
    assert a.dtype == torch.bfloat16 and torch.equal(a, b) and not torch.equal(b, c)


def test_identity_cases_zero_case_and_errors():
    x = torch.randn(10, requires_grad=True)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    y = dropout(x, 1.0)
    assert torch.equal(y, torch.zeros(10))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros(10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dropout(x, 1.5)
    with pytest.raises(ValueError, match="in-place"):
        Dropout(0.1, inplace=True)


def test_module_is_a_torch_dropout_that_follows_train_and_eval():
    m = Dropout(0.2)
    assert isinstance(m, torch.nn.Dropout) and m.p == 0.2 and not list(m.parameters())
    x = torch.ones(10_000)
    m.eval()
    assert m(x) is x
    m.train()
    share = (m(x) == 0).double().mean().item()
    assert abs(share - _rounded(0.2)) < 0.02
