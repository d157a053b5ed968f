"""RNN encoder-decoder: packing, step/teacher-forcing agreement, padding, gradients, by name."""

import pytest
import torch

from attnkit.models import DECODERS, RNNEncoder, Seq2Seq
from attnkit.models.rnn import decoder_options

ATTENTIONS = DECODERS.names()


def _model(attention, cell="gru", **kw):
    torch.manual_seed(0)
    if attention == "luong-dot":
        kw.setdefault("bidirectional", False)
    if "attn_dim" in decoder_options(attention):
        kw.setdefault("attn_dim", 10)
    return Seq2Seq(20, 15, attention=attention, cell=cell, emb_dim=8, hidden_dim=12, **kw).double().eval()


def _batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 20, (3, 7), generator=g)
    lengths = torch.tensor([7, 4, 2])
    for b, n in enumerate(lengths.tolist()):
        src[b, n:] = 0
    tgt = torch.randint(4, 15, (3, 5), generator=g)
    return src, lengths, tgt


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_padding_does_not_leak_into_annotations(cell, bidirectional):
    torch.manual_seed(0)
    enc = RNNEncoder(20, 8, 6, cell=cell, bidirectional=bidirectional, num_layers=2).double()
    src, lengths, _ = _batch()
    annotations, final = enc(src, lengths)
    garbage = src.clone()
    for b, n in enumerate(lengths.tolist()):
        garbage[b, n:] = 13  # change what sits in the padding
    annotations2, final2 = enc(garbage, lengths)
    torch.testing.assert_close(annotations, annotations2)
    torch.testing.assert_close(final, final2)
    for b, n in enumerate(lengths.tolist()):  # each sentence alone, unpadded, gives the same
        alone, alone_final = enc(src[b : b + 1, :n], lengths[b : b + 1])
        torch.testing.assert_close(annotations[b : b + 1, :n], alone)
        torch.testing.assert_close(final[b : b + 1], alone_final)
        assert torch.all(annotations[b, n:] == 0)


def test_encoder_rejects_bad_lengths():
    enc = RNNEncoder(20, 8, 6)
    src, _, _ = _batch()
    with pytest.raises(ValueError, match="lengths"):
        enc(src, torch.tensor([8, 1, 1]))
    with pytest.raises(ValueError, match="lengths"):
        enc(src, torch.tensor([0, 1, 1]))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("attention", ATTENTIONS)
def test_step_by_step_equals_teacher_forcing(attention, cell):
    model = _model(attention, cell)
    src, lengths, tgt = _batch()
    out = model(src, lengths, tgt)
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    logprobs, weights = [], []
    for t in range(tgt.shape[1]):
        lp, state, w = model.step(tgt[:, t], state, memory)
        logprobs.append(lp)
        weights.append(w)
    torch.testing.assert_close(torch.stack(logprobs, 1), torch.log_softmax(out.logits, -1))
    if attention == "none":
        assert out.weights is None and all(w is None for w in weights)
    else:
        torch.testing.assert_close(torch.stack(weights, 1), out.weights)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_batch_equals_one_at_a_time(attention):
    model = _model(attention)
    src, lengths, tgt = _batch()
    out = model(src, lengths, tgt)
    for b, n in enumerate(lengths.tolist()):
        alone = model(src[b : b + 1, :n], lengths[b : b + 1], tgt[b : b + 1])
        torch.testing.assert_close(out.logits[b : b + 1], alone.logits)
        if out.weights is not None:
            torch.testing.assert_close(out.weights[b : b + 1, :, :n], alone.weights)
            assert torch.all(out.weights[b, :, n:] == 0)
            sums = out.weights[b].sum(-1)
            if attention == "luong-local-p":  # the Gaussian is not renormalised [Luong15] Eq. 10
                assert torch.all((sums > 0) & (sums <= 1 + 1e-12))
            else:
                torch.testing.assert_close(sums, torch.ones(5, dtype=torch.float64))


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_every_parameter_gets_a_finite_gradient(attention):
    model = _model(attention).train()
    src, lengths, tgt = _batch()
    model(src, lengths, tgt).logits.logsumexp(-1).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        if name != "tgt_embedding.weight" and "energy" not in name:
            assert p.grad.abs().sum() > 0, name


def test_baseline_sees_only_the_final_state():
    """Without attention, changing annotations while keeping the final state changes nothing."""
    model = _model("none")
    src, lengths, tgt = _batch()
    memory = model.encode(src, lengths)
    scrambled = memory._replace(annotations=torch.randn_like(memory.annotations))
    emb = model.tgt_embedding(tgt)
    a = model.decoder(emb, model.init_state(memory), memory).output
    b = model.decoder(emb, model.init_state(scrambled), scrambled).output
    torch.testing.assert_close(a, b)


def test_bahdanau_attends_with_the_previous_state():
    """The first step's weights depend only on s_0 (from the encoder), not on the input token."""
    model = _model("bahdanau")
    src, lengths, _ = _batch()
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    _, _, w1 = model.step(torch.full((3,), 5), state, memory)
    _, _, w2 = model.step(torch.full((3,), 9), state, memory)
    torch.testing.assert_close(w1, w2)


def test_local_m_looks_only_inside_its_window():
    model = _model("luong-local-m", local_window=1)
    src, lengths, tgt = _batch()
    weights = model(src, lengths, tgt).weights  # (B, Tq, Tk)
    for b, n in enumerate(lengths.tolist()):
        for t in range(5):  # [t - 1, t + 1] ∩ [0, S - 1]; past t = S: the last token
            allowed = {s for s in range(t - 1, t + 2) if 0 <= s < n} or {n - 1}
            assert {int(s) for s in torch.nonzero(weights[b, t]).flatten()} == allowed


def test_luong_attends_with_the_current_state():
    """Luong scores with h_t, after the RNN step, so the input token changes step-1 weights."""
    model = _model("luong-general")
    src, lengths, _ = _batch()
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    _, _, w1 = model.step(torch.full((3,), 5), state, memory)
    _, _, w2 = model.step(torch.full((3,), 9), state, memory)
    assert not torch.allclose(w1, w2)


def test_input_feeding_option_changes_the_model():
    fed, unfed = _model("luong-general"), _model("luong-general", input_feeding=False)
    assert fed.decoder.cell.rnn.input_size == 8 + 12
    assert unfed.decoder.cell.rnn.input_size == 8
    src, lengths, tgt = _batch()
    memory = unfed.encode(src, lengths)  # the unfed decoder batches all steps: same as stepping
    state = unfed.init_state(memory)
    steps = []
    for t in range(tgt.shape[1]):
        lp, state, _ = unfed.step(tgt[:, t], state, memory)
        steps.append(lp)
    torch.testing.assert_close(torch.stack(steps, 1), torch.log_softmax(unfed(src, lengths, tgt).logits, -1))


def test_projected_keys_are_computed_once_per_sentence(monkeypatch):
    model = _model("bahdanau")
    calls = []
    original = model.decoder.attention.project_keys
    monkeypatch.setattr(model.decoder.attention, "project_keys", lambda keys: calls.append(1) or original(keys))
    src, lengths, tgt = _batch()
    model(src, lengths, tgt)
    assert len(calls) == 1


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown attention 'luong-foo'; choose one of: none, bahdanau"):
        Seq2Seq(10, 10, attention="luong-foo")
    with pytest.raises(ValueError, match="unknown RNN cell 'rnn'"):
        Seq2Seq(10, 10, cell="rnn")
    with pytest.raises(ValueError, match="equal decoder and annotation widths"):
        Seq2Seq(10, 10, attention="luong-dot", bidirectional=True)


@pytest.mark.parametrize("attention", ["bahdanau", "luong-general", "luong-stacked"])
def test_the_recurrence_runs_in_float32_under_autocast(attention):
    """Under bf16 autocast the step-by-step loop leaves autocast: its alignment weights come out
    float32 and match a float32 run closely; the output layer still runs in bfloat16."""
    from attnkit.models.rnn import float32_steps

    torch.manual_seed(0)
    model = Seq2Seq(
        12,
        9,
        attention=attention,
        emb_dim=8,
        hidden_dim=16,
        **({"dec_layers": 2} if attention == "luong-stacked" else {}),
    ).eval()
    src, lengths, tgt = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]]), torch.tensor([4, 2]), torch.tensor([[4, 5, 6]] * 2)
    plain = model(src, lengths, tgt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(src, lengths, tgt)
    assert mixed.weights.dtype == torch.float32 and mixed.logits.dtype == torch.bfloat16
    torch.testing.assert_close(mixed.weights, plain.weights, atol=0.02, rtol=0.05)
    x = torch.zeros(2, dtype=torch.bfloat16)
    with float32_steps(x, (x, None), None) as (a, (b, c), d):
        assert a is x and b is x and c is None and d is None  # no autocast: untouched
