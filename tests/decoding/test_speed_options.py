"""The decoding speed options (DecodeOptions check_every, kv_cache, compile_step, quantize): the
exact ones give the outputs, scores and attention of the default decoding, greedy and beam 5, on a
tiny random Transformer; int8 quantisation runs and mostly agrees."""

from __future__ import annotations

import pytest
import torch

from attnkit.decoding import DecodeOptionError, DecodeOptions, decode, option_fields
from attnkit.decoding.speed import CompiledStep, prepare, quantized
from attnkit.models.decoder_cache import TransformerState
from attnkit.models.transformer import TransformerSeq2Seq

MAX_LEN = 24  # longer than the buffers' first size (source length + 8): the default grows them


def _model(vocab: int = 40) -> TransformerSeq2Seq:
    torch.manual_seed(0)
    model = TransformerSeq2Seq(vocab, vocab, d_model=32, n_heads=4, enc_layers=2, dec_layers=2, d_ff=64, dropout=0.0)
    return model.eval()


def _sources(n: int = 10, vocab: int = 40) -> list[list[int]]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(4, vocab, (int(k),), generator=g).tolist() for k in torch.randint(1, 12, (n,), generator=g)]


def _same(got, want) -> None:
    assert len(got) == len(want)
    for hyps, refs in zip(got, want):
        assert [h.tokens for h in hyps] == [r.tokens for r in refs]
        for h, r in zip(hyps, refs):
            assert abs(h.score - r.score) < 1e-4
            assert h.weights.shape == r.weights.shape
            assert float((h.weights - r.weights).abs().max()) <= 1e-6


EXACT = [{"check_every": 3}, {"check_every": 64}, {"kv_cache": "static"}, {"check_every": 5, "kv_cache": "static"}]


@pytest.mark.parametrize("beam", [1, 5])
@pytest.mark.parametrize("changes", EXACT, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_exact_options_give_the_default_outputs_and_attention(beam, changes):
    model, sources = _model(), _sources()
    base = DecodeOptions(beam_size=beam, n_best=beam, alpha=0.0, batch_size=8, batch_tokens=None)
    want = decode(model, sources, base, max_len=lambda n: MAX_LEN)
    got = decode(model, sources, base.replace(**changes), max_len=lambda n: MAX_LEN)
    _same(got, want)
    assert any(len(h[0].tokens) > 8 for h in want)  # outputs past the buffers' first size: growth was exercised


@pytest.mark.parametrize("beam", [1, 5])
def test_a_static_cache_is_sized_before_the_first_step(monkeypatch, beam):
    grown_at: list[int] = []
    original = TransformerState._grown

    def spy(self, capacity):
        grown_at.append(self.position)
        return original(self, capacity)

    monkeypatch.setattr(TransformerState, "_grown", spy)
    options = DecodeOptions(beam_size=beam, alpha=0.0, batch_size=8, batch_tokens=None)
    model, sources = _model(), _sources()
    decode(model, sources, options, max_len=lambda n: MAX_LEN)
    assert any(p > 0 for p in grown_at)  # the default grows inside the step loop
    grown_at.clear()
    decode(model, sources, options.replace(kv_cache="static"), max_len=lambda n: MAX_LEN)
    assert grown_at and all(p == 0 for p in grown_at)  # once per batch, before any position is decoded


def test_int8_runs_and_mostly_agrees():
    # a random model's distributions are flat, so int8 rounding flips some argmaxes: count the output
    # positions (</s> included) where both decodings have the same token
    model, sources = _model(), _sources(16)
    for beam in (1, 5):
        options = DecodeOptions(beam_size=beam, alpha=0.0, batch_size=8, batch_tokens=None)
        want = decode(model, sources, options, max_len=lambda n: MAX_LEN)
        got = decode(model, sources, options.replace(quantize="int8"), max_len=lambda n: MAX_LEN)
        pairs = [(g[0].tokens + [-1], w[0].tokens + [-1]) for g, w in zip(got, want)]
        same = sum(x == y for a, b in pairs for x, y in zip(a, b))
        assert same >= 0.7 * sum(max(len(a), len(b)) for a, b in pairs), beam
    assert isinstance(model.generator, torch.nn.Linear)  # the model itself is not quantised
    linear_types = {type(m) for m in quantized(model).modules() if "Linear" in type(m).__name__}
    assert torch.nn.Linear not in linear_types and linear_types  # every linear layer was replaced


def test_option_values_are_checked():
    for changes in (
        {"check_every": 0},
        {"kv_cache": "fixed"},
        {"compile_step": "max"},
        {"quantize": "int4"},
        {"quantize": "int8", "precision": "bf16"},
    ):
        with pytest.raises(DecodeOptionError) as err:
            DecodeOptions(**changes)
        assert err.value.field == next(iter(changes))


def test_prepare_wraps_only_when_asked():
    model = _model()
    assert prepare(model, DecodeOptions()) is model
    wrapped = prepare(model, DecodeOptions(compile_step="default"))
    assert isinstance(wrapped, CompiledStep) and wrapped.fold_beams is not None and wrapped.model is model


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 5])
def test_a_compiled_step_gives_the_default_outputs_and_attention(beam):
    model, sources = _model(), _sources(12)
    base = DecodeOptions(beam_size=beam, n_best=beam, alpha=0.0, batch_size=6, batch_tokens=None)
    want = decode(model, sources, base, max_len=lambda n: MAX_LEN)
    got = decode(model, sources, base.replace(compile_step="default"), max_len=lambda n: MAX_LEN)
    _same(got, want)


def test_the_ctranslate2_engine_refuses_attnkits_own_speed_options():
    from attnkit.export.ctranslate2 import engine_options

    engine_options(DecodeOptions(check_every=4, kv_cache="static"))  # harmless there: accepted
    for changes in ({"quantize": "int8"}, {"compile_step": "default"}):
        with pytest.raises(DecodeOptionError) as err:
            engine_options(DecodeOptions(**changes))
        assert err.value.field == next(iter(changes))


def test_a_web_request_cannot_compile_or_quantise():
    from attnkit.explore.app import LIMITS, RequestError, check_request

    assert check_request({"input": "x", "check_every": 4, "kv_cache": "static"}, LIMITS)["decode"].kv_cache == "static"
    for field in ("compile_step", "quantize"):
        assert field not in [f.name for f in option_fields() if f.metadata["serve"]]
        with pytest.raises(RequestError, match="unknown field"):
            check_request({"input": "x", field: "int8" if field == "quantize" else "default"}, LIMITS)
