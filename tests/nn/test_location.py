"""Location-aware attention [Chorowski15] Sec. 2.2 against its equations written out here, with
gradcheck, its properties, and its use by name in the RNN encoder-decoder."""

from __future__ import annotations

import math

import pytest
import torch

from attnkit.decoding import DecodeOptions, beam_search, greedy_decode
from attnkit.functional import SCORES, attend, score
from attnkit.models import Seq2Seq
from attnkit.nn import AdditiveAttention, LocationAwareAttention

F64 = torch.float64


def equations(W, V, b, w, Fl, U, s, h, alpha_prev, mask):
    """[Chorowski15] written per pair: f_{i,j,c} = sum_m F[c, m] alpha_{i-1, j + m - r//2} for filter c (0
    outside the sequence); e_{i,j} = w . tanh(W s_{i-1} + V h_j + U f_{i,j} + b);
    alpha_{i,j} = exp(e_{i,j}) / sum_{j' allowed} exp(e_{i,j'}); g_i = sum_j alpha_{i,j} h_j."""
    n_f, r = Fl.shape
    tk = h.shape[0]
    weights, contexts, energies = [], [], []
    for i in range(s.shape[0]):
        e = []
        for j in range(tk):
            f = [
                sum(
                    float(Fl[c, m]) * (float(alpha_prev[i, j + m - r // 2]) if 0 <= j + m - r // 2 < tk else 0.0)
                    for m in range(r)
                )
                for c in range(n_f)
            ]
            e.append(
                sum(
                    float(w[a])
                    * math.tanh(
                        float(W[a] @ s[i])
                        + float(V[a] @ h[j])
                        + float(b[a])
                        + sum(float(U[a, c]) * f[c] for c in range(n_f))
                    )
                    for a in range(w.shape[0])
                )
            )
        z = sum(math.exp(e[j]) for j in range(tk) if mask[j])
        a_i = [math.exp(e[j]) / z if mask[j] else 0.0 for j in range(tk)]
        energies.append(e), weights.append(a_i)
        contexts.append([sum(a_i[j] * float(h[j, d]) for j in range(tk)) for d in range(h.shape[1])])
    return (torch.tensor(energies, dtype=F64), torch.tensor(weights, dtype=F64), torch.tensor(contexts, dtype=F64))


def _module(query_dim=4, key_dim=6, attn_dim=5, n_filters=3, kernel_size=5):
    att = LocationAwareAttention(query_dim, key_dim, attn_dim, n_filters=n_filters, kernel_size=kernel_size).double()
    with torch.no_grad():
        att.key_proj.bias.normal_()
        att.loc_proj.weight.normal_()
        att.filters.normal_()
    return att


def test_module_matches_the_equations_written_out():
    torch.manual_seed(0)
    att = _module()
    q, k = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 7, 6, dtype=F64)
    mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    prev = torch.softmax(torch.randn(2, 3, 7, dtype=F64), -1) * mask[:, None]
    out = att(q, k, mask, prev_weights=prev)
    params = [
        p.detach()
        for p in (
            att.query_proj.weight,
            att.key_proj.weight,
            att.key_proj.bias,
            att.energy,
            att.filters,
            att.loc_proj.weight,
        )
    ]
    for n in range(2):
        _, weights, context = equations(*params, q[n], k[n], prev[n], mask[n])
        torch.testing.assert_close(out.weights[n], weights)
        torch.testing.assert_close(out.context[n], context)
    assert torch.all(out.weights[1, :, 5:] == 0)


def test_functional_score_matches_the_equations_and_is_registered():
    torch.manual_seed(1)
    qp, kp = torch.randn(1, 2, 5, dtype=F64), torch.randn(1, 6, 5, dtype=F64)
    prev, Fl = torch.rand(1, 2, 6, dtype=F64), torch.randn(4, 3, dtype=F64)
    U, w = torch.randn(5, 4, dtype=F64), torch.randn(5, dtype=F64)
    got = SCORES.get("location_aware")(qp, kp, prev_weights=prev, filters=Fl, loc_proj=U, energy=w)
    eye = torch.eye(5, dtype=F64)
    energies, _, _ = equations(eye, eye, torch.zeros(5, dtype=F64), w, Fl, U, qp[0], kp[0], prev[0], [True] * 6)
    torch.testing.assert_close(got[0], energies)
    v = torch.randn(1, 6, 3, dtype=F64)
    via_attend = attend(
        qp, kp, v, score="location_aware", score_kwargs=dict(prev_weights=prev, filters=Fl, loc_proj=U, energy=w)
    )
    torch.testing.assert_close(via_attend.weights, torch.softmax(got, -1))


def test_gradcheck_float64():
    torch.manual_seed(2)
    qp, kp = (torch.randn(2, 2, 3, dtype=F64, requires_grad=True), torch.randn(2, 5, 3, dtype=F64, requires_grad=True))
    prev = torch.rand(2, 2, 5, dtype=F64, requires_grad=True)
    Fl, U, w = (
        torch.randn(2, 3, dtype=F64, requires_grad=True),
        torch.randn(3, 2, dtype=F64, requires_grad=True),
        torch.randn(3, dtype=F64, requires_grad=True),
    )

    def fn(a, b, c, d, e, f):
        return score.location_aware(a, b, prev_weights=c, filters=d, loc_proj=e, energy=f)

    assert torch.autograd.gradcheck(fn, (qp, kp, prev, Fl, U, w))
    att = _module(3, 4, 5, 2, 3)
    q, k = torch.randn(2, 1, 3, dtype=F64, requires_grad=True), torch.randn(2, 4, 4, dtype=F64, requires_grad=True)
    mask = torch.tensor([[True, True, True, False], [True] * 4])
    assert torch.autograd.gradcheck(lambda a, b, c: att(a, b, mask, prev_weights=c).context, (q, k, prev[:, :1, :4]))


def test_zero_filters_give_bahdanau_and_the_previous_weights_have_an_effect():
    torch.manual_seed(3)
    att = _module()
    plain = AdditiveAttention(4, 6, 5).double()
    plain.load_state_dict({k: v for k, v in att.state_dict().items() if k in plain.state_dict()})
    q, k = torch.randn(2, 1, 4, dtype=F64), torch.randn(2, 8, 6, dtype=F64)
    early, late = torch.zeros(2, 1, 8, dtype=F64), torch.zeros(2, 1, 8, dtype=F64)
    early[..., 1], late[..., 6] = 1.0, 1.0
    assert not torch.allclose(att(q, k, prev_weights=early).weights, att(q, k, prev_weights=late).weights)
    # shifting alpha_{i-1} by one key shifts the location term by one key (away from the edges)
    feats_early = score.location_features(early, att.filters.detach())
    feats_next = score.location_features(torch.roll(early, 1, -1), att.filters.detach())
    torch.testing.assert_close(feats_next[..., 1:, :], feats_early[..., :-1, :])
    with torch.no_grad():
        att.filters.zero_()
    torch.testing.assert_close(att(q, k, prev_weights=late).weights, plain(q, k).weights)


def test_properties_and_errors():
    att = _module()
    q, k = torch.randn(3, 2, 4, dtype=F64), torch.randn(3, 6, 6, dtype=F64)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4, [True] * 4 + [False] * 2])
    alpha0 = LocationAwareAttention.initial_weights(mask, F64)
    torch.testing.assert_close(alpha0[1], torch.tensor([0.5, 0.5, 0, 0, 0, 0], dtype=F64))
    w = att(q, k, mask, prev_weights=alpha0[:, None].expand(-1, 2, -1)).weights
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, dtype=F64))
    assert torch.all(w >= 0) and torch.all(w[~mask[:, None].expand_as(w)] == 0)
    with pytest.raises(ValueError, match="odd kernel_size"):
        LocationAwareAttention(4, 6, 5, kernel_size=4)
    with pytest.raises(ValueError, match="prev_weights must be"):
        att(q, k, prev_weights=torch.rand(3, 2, 5, dtype=F64))


@pytest.mark.parametrize("mask_kind", ["none", "padding", "3d"])
def test_without_prev_weights_it_starts_from_the_initial_weights(mask_kind):
    """prev_weights=None is alpha_0 of initial_weights (uniform over the allowed keys), so the module
    can be called with its parent AdditiveAttention's signature."""
    torch.manual_seed(4)
    att = _module()
    q, k = torch.randn(2, 3, 4, dtype=F64), torch.randn(2, 6, 6, dtype=F64)
    padding = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    mask = {"none": None, "padding": padding, "3d": padding[:, None] & torch.ones(1, 3, 6, dtype=torch.bool).tril(3)}[
        mask_kind
    ]
    allowed = (
        torch.ones(2, 3, 6, dtype=torch.bool)
        if mask is None
        else (mask[:, None] if mask.dim() == 2 else mask).expand(2, 3, 6)
    )
    alpha0 = allowed.double() / allowed.double().sum(-1, keepdim=True)
    parent: AdditiveAttention = att
    got = parent(q, k, mask)
    want = att(q, k, mask, prev_weights=alpha0)
    torch.testing.assert_close(got.weights, want.weights)
    torch.testing.assert_close(got.context, want.context)
    if mask is not None and mask.dim() == 2:
        torch.testing.assert_close(alpha0[:, 0], LocationAwareAttention.initial_weights(mask, F64))
    first_key = torch.zeros(2, 3, 6, dtype=F64)
    first_key[..., 0] = 1.0
    assert not torch.allclose(got.weights, att(q, k, mask, prev_weights=first_key).weights)


def test_rnn_encoder_decoder_takes_it_by_name_and_keeps_alpha_in_its_state():
    torch.manual_seed(0)
    model = (
        Seq2Seq(12, 9, attention="location-aware", emb_dim=8, hidden_dim=16, loc_filters=4, loc_kernel=3)
        .double()
        .eval()
    )
    src, lengths = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]]), torch.tensor([4, 2])
    tgt = torch.tensor([[4, 5, 6], [7, 8, 4]])
    memory = model.encode(src, lengths)
    state = model.init_state(memory)
    torch.testing.assert_close(state.prev_weights[1], torch.tensor([0.5, 0.5, 0, 0], dtype=F64))
    steps = []
    for t in range(3):
        lp, state, w = model.step(tgt[:, t], state, memory)
        torch.testing.assert_close(state.prev_weights, w)  # alpha_t is fed to the next step
        steps.append(lp)
    full = model(src, lengths, tgt)
    torch.testing.assert_close(torch.stack(steps, 1), torch.log_softmax(full.logits, -1))
    greedy = greedy_decode(model, src, lengths, 6)
    beam1 = beam_search(model, src, lengths, 6, DecodeOptions(beam_size=1))
    assert [h.tokens for h in greedy] == [b[0].tokens for b in beam1]
    assert len(beam_search(model, src, lengths, 6, DecodeOptions(beam_size=3, n_best=3))[0]) == 3
    with pytest.raises(ValueError, match="does not take loc_kernel"):
        Seq2Seq(12, 9, attention="bahdanau", loc_kernel=3)
