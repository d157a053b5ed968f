"""Speech sequence-to-sequence models: the pyramidal listener against [Chan16] Eq. 5 written out,
batch = rows alone, teacher forcing = step by step, greedy = beam of one, for RNN attentions by
name and the Transformer; the families build them for a speech spec."""

from __future__ import annotations

import pytest
import torch

from attnkit.decoding import DecodeOptions, beam_search, greedy_decode
from attnkit.errors import ConfigError
from attnkit.models import FAMILIES, RNNConfig, Seq2SeqSpec, SpeechSeq2SeqSpec, TransformerConfig
from attnkit.models.speech_seq2seq import (
    ConvListener,
    PyramidalListener,
    SelfAttentionListener,
    SpeechSeq2Seq,
    SpeechTransformer,
)

F64 = torch.float64


def test_pyramidal_listener_matches_eq5_written_out():
    torch.manual_seed(0)
    listener = PyramidalListener(6, 5, pyramid=2).double().eval()
    x = torch.randn(1, 16, 6, dtype=F64)
    out, final, n = listener(x, torch.tensor([16]))
    # Eq. 5: h^j_i = BLSTM(h^j_{i-1}, [h^{j-1}_{2i}; h^{j-1}_{2i+1}]), one full pass per layer
    h, _ = listener.bottom(x)  # (1, 16, 10)
    for rnn in listener.pyramid:
        pairs = torch.stack([torch.cat([h[0, 2 * i], h[0, 2 * i + 1]]) for i in range(h.shape[1] // 2)])[None]
        h, (h_n, _) = rnn(pairs)
    torch.testing.assert_close(out, h)
    torch.testing.assert_close(final, torch.cat([h_n[-2], h_n[-1]], -1))
    assert out.shape == (1, 4, 10) and n.tolist() == [4]


def _listener(kind):
    if kind == "pyramid":
        return PyramidalListener(8, 5, pyramid=3)
    return ConvListener(8, 5) if kind == "conv" else SelfAttentionListener(8, 5, layers=2, n_heads=2)


@pytest.mark.parametrize("kind", ["pyramid", "conv", "self-attention"])
def test_listeners_give_each_row_what_it_gives_alone(kind):
    torch.manual_seed(1)
    listener = _listener(kind).double().eval()
    a, b = torch.randn(45, 8, dtype=F64), torch.randn(19, 8, dtype=F64)
    x = torch.zeros(2, 45, 8, dtype=F64)
    x[0], x[1, :19] = a, b
    out, _, n = listener(x, torch.tensor([45, 19]))
    for row, seq in enumerate((a, b)):
        alone, _, m = listener(seq[None], torch.tensor([len(seq)]))
        assert int(n[row]) == int(m[0]) == int(listener.output_lengths(torch.tensor([len(seq)]))[0])
        torch.testing.assert_close(out[row, : int(m[0])], alone[0, : int(m[0])])
    assert torch.all(out[1, int(n[1]) :] == 0)


def test_self_attention_listener_final_state_is_the_mean_of_the_real_annotations():
    torch.manual_seed(3)
    listener = SelfAttentionListener(8, 4, layers=1, n_heads=2).double().eval()
    x = torch.randn(2, 40, 8, dtype=F64)
    out, final, n = listener(x, torch.tensor([40, 23]))
    assert n.tolist() == [9, 5] and out.shape == (2, 9, 8)
    for row in range(2):
        real = out[row, : int(n[row])]
        torch.testing.assert_close(final[row], sum(real) / len(real))
    with pytest.raises(ValueError, match="heads do not divide"):
        SelfAttentionListener(8, 5, n_heads=4)


def _frames():
    torch.manual_seed(2)
    return torch.randn(2, 70, 8, dtype=F64), torch.tensor([70, 33]), torch.randint(4, 12, (2, 6))


@pytest.mark.parametrize(
    "attention, frontend",
    [
        ("bahdanau", "pyramid"),
        ("location-aware", "pyramid"),
        ("location-aware", "conv"),
        ("luong-general", "conv"),
        ("bahdanau", "self-attention"),
    ],
)
def test_rnn_speech_models_decode_as_they_train(attention, frontend):
    x, n, tgt = _frames()
    extra = {"loc_kernel": 3} if attention == "location-aware" else {}
    model = (
        SpeechSeq2Seq(
            8,
            12,
            frontend=frontend,
            attention=attention,
            emb_dim=8,
            hidden_dim=12,
            enc_layers=1 if frontend == "conv" else 2,
            **extra,
        )
        .double()
        .eval()
    )
    memory = model.encode(x, n)
    state = model.init_state(memory)
    steps = []
    for t in range(tgt.shape[1]):
        lp, state, w = model.step(tgt[:, t], state, memory)
        steps.append(lp)
        assert torch.all(w[1, int(model.memory_lengths(n)[1]) :] == 0)  # no weight beyond the real frames
    torch.testing.assert_close(torch.stack(steps, 1), torch.log_softmax(model(x, n, tgt).logits, -1))
    greedy = greedy_decode(model, x, n, 5)
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam_search(model, x, n, 5, DecodeOptions(beam_size=1))]


def test_speech_transformer_rows_alone_and_greedy_is_a_beam_of_one():
    x, n, tgt = _frames()
    model = (
        SpeechTransformer(8, 12, d_model=16, n_heads=2, enc_layers=1, dec_layers=1, d_ff=16, dropout=0.0, max_len=64)
        .double()
        .eval()
    )
    both = model(x, n, tgt).logits
    alone = model(x[1:, :33], n[1:], tgt[1:]).logits
    torch.testing.assert_close(both[1:], alone)
    greedy = greedy_decode(model, x, n, 5)
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam_search(model, x, n, 5, DecodeOptions(beam_size=1))]
    assert greedy[0].weights.shape[0] == 2  # per head


def test_the_rnn_and_transformer_families_build_speech_models_for_a_speech_spec():
    spec = SpeechSeq2SeqSpec(1, 14, 40, 0, n_mels=8)
    rnn = FAMILIES.get("rnn").build(
        RNNConfig(attention="location-aware", emb_dim=8, hidden_dim=8, attn_dim=8, frontend="conv"), spec
    )
    assert isinstance(rnn, SpeechSeq2Seq) and isinstance(rnn.encoder, ConvListener)
    assert rnn.decoder.attention.filters.shape == (10, 31)
    tf = FAMILIES.get("transformer").build(TransformerConfig(d_model=16, n_heads=2, d_ff=16), spec)
    assert isinstance(tf, SpeechTransformer) and not hasattr(tf, "src_embedding")
    listening = FAMILIES.get("rnn").build(
        RNNConfig(attention="bahdanau", emb_dim=8, hidden_dim=8, enc_layers=1, frontend="self-attention"), spec
    )
    assert isinstance(listening.encoder, SelfAttentionListener) and len(listening.encoder.layers) == 1
    with pytest.raises(ValueError, match="frontend"):
        SpeechSeq2Seq(8, 12, frontend="wavelet")


def test_the_frontend_is_a_model_option_pyramid_by_default_and_refused_for_text():
    spec = SpeechSeq2SeqSpec(1, 14, 40, 0, n_mels=8)
    default = FAMILIES.get("rnn").build(RNNConfig(emb_dim=8, hidden_dim=8, enc_layers=1), spec)
    assert isinstance(default.encoder, PyramidalListener)
    with pytest.raises(ConfigError, match="model.frontend=conv applies only to speech inputs"):
        FAMILIES.get("rnn").build(RNNConfig(frontend="conv"), Seq2SeqSpec(10, 10, 20))
    with pytest.raises(ConfigError, match="model.frontend: unknown 'wavelet'; choose one of: pyramid, conv"):
        RNNConfig(frontend="wavelet").check()
