"""The speech classifier: subsampling lengths, padding invariance, masks, gradients, and that it
learns a small synthetic frame task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attnkit.models.frontends import MIN_FRAMES, ConvSubsampling
from attnkit.models.speech import SpeechClassifier


def test_subsampled_lengths_follow_the_convolution_arithmetic():
    sub = ConvSubsampling(20, 16)
    for t in range(MIN_FRAMES, 60):
        out, n = sub(torch.randn(1, t, 20), torch.tensor([t]))
        # a 3-wide kernel of stride 2 without padding keeps floor((L - 3) / 2) + 1 positions, twice
        once = (t - 3) // 2 + 1
        assert out.shape[1] == int(n) == (once - 3) // 2 + 1


def test_a_batch_equals_its_rows_one_at_a_time_and_padding_gets_no_weight():
    torch.manual_seed(0)
    model = SpeechClassifier(16, 5, d_model=24, n_heads=3, layers=2, d_ff=32, dropout=0.0).double().eval()
    a, b = torch.randn(40, 16, dtype=torch.float64), torch.randn(23, 16, dtype=torch.float64)
    frames = torch.zeros(2, 40, 16, dtype=torch.float64)
    frames[0], frames[1, :23] = a, b
    lengths = torch.tensor([40, 23])
    out = model(frames, lengths, need_weights=True)
    for row, x in enumerate((a, b)):
        alone = model(x[None], torch.tensor([len(x)]), need_weights=True)
        torch.testing.assert_close(out.logits[row], alone.logits[0])
        n = int(alone.lengths[0])
        torch.testing.assert_close(out.pool_weights[row, :n], alone.pool_weights[0])
    n1 = int(out.lengths[1])
    assert n1 == 5 and torch.all(out.pool_weights[1, n1:] == 0)
    torch.testing.assert_close(out.pool_weights.sum(-1), torch.ones(2, dtype=torch.float64))
    assert len(out.layer_weights) == 2 and out.layer_weights[0].shape == (2, 3, 9, 9)
    assert torch.all(out.layer_weights[-1][1, :, :n1, n1:] == 0)  # no query attends a padded position


def test_every_parameter_gets_a_finite_gradient_and_bad_inputs_raise():
    model = SpeechClassifier(12, 3, d_model=16, n_heads=2, layers=1, d_ff=16)
    out = model(torch.randn(3, 30, 12), torch.tensor([30, 12, 7]))
    F.cross_entropy(out.logits, torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    with pytest.raises(ValueError, match=r"lengths must be \(B,\) in \[7"):
        model(torch.randn(1, 30, 12), torch.tensor([5]))
    with pytest.raises(ValueError, match="D=12 mel filters"):
        model(torch.randn(1, 30, 13), torch.tensor([30]))


def _tones(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Class 0: energy in low filters; 1: in high filters; 2: moving from low to high (a chirp).
    Random lengths 20-48 frames, random onset, noise."""
    frames, lengths, labels = torch.zeros(n, 48, 16), torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)
    for i in range(n):
        t = int(torch.randint(20, 49, (1,), generator=g))
        y = i % 3
        x = torch.randn(t, 16, generator=g) * 0.3
        on = int(torch.randint(0, t // 3, (1,), generator=g))
        for s in range(on, t):
            band = 3 if y == 0 else 12 if y == 1 else min(15, 2 + (13 * (s - on)) // max(1, t - on))
            x[s, band - 1 : band + 2] += 2.0
        frames[i, :t], lengths[i], labels[i] = x, t, y
    return frames, lengths, labels


def test_it_learns_a_small_synthetic_frame_task():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = SpeechClassifier(16, 3, d_model=32, n_heads=2, layers=1, d_ff=32, dropout=0.0, channels=8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        x, n, y = _tones(24, g)
        loss = F.cross_entropy(model(x, n).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, n, y = _tones(90, g)
    with torch.no_grad():
        acc = (model.eval()(x, n).logits.argmax(-1) == y).float().mean()
    assert acc >= 0.9
