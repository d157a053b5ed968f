"""Transformer encoder-decoder: KV-cached decoding equals full decoding, padding, causality,
gradients, options that change the model, and the per-layer attention maps."""

import pytest
import torch

from attnkit.models import TransformerSeq2Seq
from attnkit.nn import POSITIONAL


def _model(**kw):
    torch.manual_seed(0)
    args = dict(d_model=16, n_heads=4, enc_layers=2, dec_layers=2, d_ff=32, dropout=0.0)
    args.update(kw)
    return TransformerSeq2Seq(20, 15, **args).double().eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 20, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 2])
    for b, n in enumerate(lengths.tolist()):
        src[b, n:] = 0
    return src, lengths, torch.randint(4, 15, (3, 5), generator=g)


def _stepwise(model, src, lengths, tgt):
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    logprobs, weights = [], []
    for t in range(tgt.shape[1]):
        lp, state, w = model.step(tgt[:, t], state, memory)
        logprobs.append(lp)
        weights.append(w)
    return torch.stack(logprobs, 1), torch.stack(weights, 2), state  # weights (B, Nh, Tq, Tk)


@pytest.mark.parametrize("positional", POSITIONAL.names())
@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("num_kv_heads", [None, 1])
def test_kv_cached_decoding_equals_full_decoding(positional, norm_first, num_kv_heads):
    model = _model(positional=positional, norm_first=norm_first, num_kv_heads=num_kv_heads)
    src, lengths, tgt = _batch()
    full = torch.log_softmax(model(src, lengths, tgt).logits, -1)
    stepped, weights, state = _stepwise(model, src, lengths, tgt)
    torch.testing.assert_close(stepped, full)
    assert state.position == 5 and state.cached(0).keys.shape == (3, num_kv_heads or 4, 5, 4)
    maps = model.attention_maps(src, lengths, tgt)
    torch.testing.assert_close(weights, maps.cross[-1])  # step weights = last layer, per head (B, Nh, Tq, Tk)


def test_padding_does_not_change_results():
    model = _model()
    src, lengths, tgt = _batch()
    out = model(src, lengths, tgt).logits
    garbage = src.clone()
    garbage[1, 4:] = 9
    torch.testing.assert_close(model(garbage, lengths, tgt).logits, out)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(model(src[b : b + 1, :n], lengths[b : b + 1], tgt[b : b + 1]).logits, out[b : b + 1])


def test_future_target_tokens_do_not_leak():
    model = _model()
    src, lengths, tgt = _batch()
    changed = tgt.clone()
    changed[:, 3:] = 7
    torch.testing.assert_close(model(src, lengths, changed).logits[:, :3], model(src, lengths, tgt).logits[:, :3])


def test_attention_maps_shapes_and_normalisation():
    model = _model(dec_layers=3)
    src, lengths, tgt = _batch()
    maps = model.attention_maps(src, lengths, tgt)
    assert len(maps.encoder_self) == 2 and len(maps.decoder_self) == 3 and len(maps.cross) == 3
    assert maps.cross[0].shape == (3, 4, 5, 7) and maps.decoder_self[0].shape == (3, 4, 5, 5)
    assert torch.all(maps.cross[0][2, :, :, 2:] == 0)  # padding gets no weight
    assert torch.all(maps.decoder_self[0].triu(1) == 0)  # causal
    torch.testing.assert_close(maps.cross[1].sum(-1), torch.ones(3, 4, 5, dtype=torch.float64))


def test_every_parameter_gets_a_finite_gradient():
    model = _model(dropout=0.1).train()
    src, lengths, tgt = _batch()
    model(src, lengths, tgt).logits.logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_options_change_the_model():
    tied = _model(tie_embeddings=True)
    assert tied.generator.weight is tied.tgt_embedding.weight
    assert sum(p.numel() for p in tied.parameters()) < sum(p.numel() for p in _model().parameters())
    src, lengths, tgt = _batch()
    pre, post = _model(norm_first=True), _model(norm_first=False)
    assert not torch.allclose(pre(src, lengths, tgt).logits, post(src, lengths, tgt).logits)
    assert isinstance(post.enc_norm, torch.nn.Identity) and isinstance(pre.enc_norm, torch.nn.LayerNorm)
    with pytest.raises(ValueError, match="not divisible"):
        _model(d_model=18)
    with pytest.raises(ValueError, match="unknown positional encoding 'sine'"):
        _model(positional="sine")


def test_beam_reordering_of_the_state():
    model = _model()
    src, lengths, tgt = _batch()
    memory = model.encode(src, lengths)
    _, state, _ = model.step(tgt[:, 0], model.init_state(memory), memory)
    picked = state.select(torch.tensor([2, 0]))  # k = 1: decoder rows
    torch.testing.assert_close(picked.cached(1).keys, state.cached(1).keys[[2, 0]])
    assert picked.position == 1
