"""The Transformer's evaluation-mode decoder step (functional fast path) against a full,
non-incremental teacher-forced pass of the same model over each row's prefix, in float64."""

from __future__ import annotations

import pytest
import torch

from attnkit.decoding.beam_state import BeamAncestry
from attnkit.models.transformer import TransformerSeq2Seq

CONFIGS = {
    "pre-ln sinusoidal": dict(norm_first=True, positional="sinusoidal"),
    "post-ln learned": dict(norm_first=False, positional="learned"),
    "rope gqa": dict(norm_first=True, positional="rope", n_heads=4, num_kv_heads=2),
    "tied gelu": dict(norm_first=True, positional="sinusoidal", tie_embeddings=True, activation="gelu"),
}


def _model(**kwargs) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    args = dict(d_model=16, n_heads=2, enc_layers=2, dec_layers=2, d_ff=32, dropout=0.0, max_len=64)
    args.update(kwargs)
    return TransformerSeq2Seq(23, 19, **args).double().eval()


def _reference(model, src, lengths, prefixes):
    """Log-probabilities (R, V) and last-layer cross-attention (R, Nh, Tk) of each row's last
    position, from a teacher-forced pass over its whole prefix (no cache)."""
    logits = model(src, lengths, prefixes).logits[:, -1]
    cross = model.attention_maps(src, lengths, prefixes).cross[-1][:, :, -1]
    return torch.log_softmax(logits, dim=-1), cross


@pytest.mark.parametrize("name", list(CONFIGS))
def test_greedy_steps_equal_the_full_pass(name):
    model = _model(**CONFIGS[name])
    src = torch.randint(4, 23, (3, 7))
    lengths = torch.tensor([7, 4, 1])
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    tokens = torch.randint(4, 19, (3, 11))
    tokens[:, 0] = 1
    with torch.no_grad():
        for t in range(10):  # past the initial capacity Tk + 8: the buffers grow once
            logprobs, state, weights = model.step(tokens[:, t], state, memory)
            want_lp, want_w = _reference(model, src, lengths, tokens[:, : t + 1])
            torch.testing.assert_close(logprobs, want_lp, rtol=0, atol=1e-10)
            torch.testing.assert_close(weights, want_w, rtol=0, atol=1e-12)
            assert weights.shape == (3, model.n_heads, 7)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_beam_steps_equal_the_full_pass(name):
    """k = 3 beams sharing their slots, reordered at random: each row's step equals the full
    pass over the prefix of its own ancestry."""
    model = _model(**CONFIGS[name])
    sentences, k = 2, 3
    src = torch.randint(4, 23, (sentences, 6))
    lengths = torch.tensor([6, 3])
    memory = model.fold_beams(model.encode(src, lengths), k)
    state = model.init_state(memory)
    ancestry = BeamAncestry(sentences, k, state.capacity, "cpu")
    g = torch.Generator().manual_seed(1)
    prefixes = torch.full((sentences * k, 1), 1)  # each row's tokens so far
    prev = prefixes[:, 0]
    rows_src = src.repeat_interleave(k, 0)
    rows_len = lengths.repeat_interleave(k)
    with torch.no_grad():
        for t in range(6):
            logprobs, state, weights = model.step(prev, state, memory, visible=ancestry.open(t))
            want_lp, want_w = _reference(model, rows_src, rows_len, prefixes)
            torch.testing.assert_close(logprobs, want_lp, rtol=0, atol=1e-10)
            torch.testing.assert_close(weights, want_w, rtol=0, atol=1e-12)
            parents = torch.randint(0, k, (sentences, k), generator=g)
            ancestry.reorder(parents)
            rows = (parents + torch.arange(sentences)[:, None] * k).view(-1)
            prev = torch.randint(4, 19, (sentences * k,), generator=g)
            prefixes = torch.cat([prefixes[rows], prev[:, None]], dim=1)


def test_fast_step_equals_the_module_step():
    """The fast path (eval) and the module path (train mode with dropout 0) give the same step."""
    model = _model()
    src = torch.randint(4, 23, (2, 5))
    lengths = torch.tensor([5, 2])
    tokens = torch.randint(4, 19, (2, 4))
    outs = []
    for train in (False, True):
        model.train(train)
        memory = model.encode(src, lengths)
        state = model.init_state(memory)
        steps = []
        with torch.no_grad():
            for t in range(4):
                logprobs, state, weights = model.step(tokens[:, t], state, memory)
                steps.append((logprobs, weights))
        outs.append(steps)
    for (a_lp, a_w), (b_lp, b_w) in zip(*outs):
        torch.testing.assert_close(a_lp, b_lp, rtol=0, atol=1e-12)
        torch.testing.assert_close(a_w, b_w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["pre-ln sinusoidal", "rope gqa"])
def test_weights_changed_in_place_are_seen_and_keys_unchanged(name):
    """The step's run-time weight copies follow in-place changes of the parameters (a training
    step between decodes) and never enter the checkpoint."""
    model = _model(**CONFIGS[name])
    keys = set(model.state_dict())
    src = torch.randint(4, 23, (2, 5))
    lengths = torch.tensor([5, 3])
    prefix = torch.tensor([[1], [1]])
    with torch.no_grad():
        memory = model.encode(src, lengths)
        model.step(prefix[:, 0], model.init_state(memory), memory)
        for proj in ("q_proj", "k_proj", "v_proj", "in_proj"):
            layer = getattr(model.decoder[0].self_attn, proj)
            if layer is not None:
                layer.weight.mul_(1.5)
                layer.bias.add_(0.25)
        model.generator.weight.mul_(-1.0)
        memory = model.encode(src, lengths)
        logprobs, _, weights = model.step(prefix[:, 0], model.init_state(memory), memory)
    want_lp, want_w = _reference(model, src, lengths, prefix)
    torch.testing.assert_close(logprobs, want_lp, rtol=0, atol=1e-10)
    torch.testing.assert_close(weights, want_w, rtol=0, atol=1e-12)
    assert set(model.state_dict()) == keys
