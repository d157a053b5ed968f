"""Explanations of Transformer stacks (attnkit.models.explain) against the papers' formulas, computed
in the test from the layers' parameters with plain tensor code."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attnkit.functional import attention_rollout, padding_mask
from attnkit.functional import explain as fx
from attnkit.models.explain import (
    EXPLANATIONS,
    EncoderInputs,
    encoder_trace,
    explain,
    explain_translation,
    self_attention_explanations,
    transformer_encoder_inputs,
    vit_encoder_inputs,
)
from attnkit.models.transformer import TransformerSeq2Seq
from attnkit.models.vit import VisionTransformer
from tests.functional.test_explain import _edmonds_karp, alti_reference


def _model(norm_first=True, positional="sinusoidal", enc=2, dec=2, kv=None):
    torch.manual_seed(0)
    m = TransformerSeq2Seq(
        11,
        13,
        d_model=8,
        n_heads=4,
        num_kv_heads=kv,
        enc_layers=enc,
        dec_layers=dec,
        d_ff=16,
        dropout=0.0,
        norm_first=norm_first,
        positional=positional,
    )
    return m.double().eval()


def _batch():
    src = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0]])
    lengths = torch.tensor([5, 3])
    tgt_in = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 0]])
    tgt_out = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
    return src, lengths, tgt_in, tgt_out


def _projections(attn):
    """(W_q, b_q, W_k, b_k, W_v, b_v) of a MultiHeadAttention, read from its parameters."""
    d, kv = attn.d_model, attn.kv_dim
    if attn.in_proj is not None:
        w, b = attn.in_proj.weight, attn.in_proj.bias
        return w[:d], b[:d], w[d : d + kv], b[d : d + kv], w[d + kv :], b[d + kv :]
    q, k, v = attn.q_proj, attn.k_proj, attn.v_proj
    return q.weight, q.bias, k.weight, k.bias, v.weight, v.bias


def plain_mha(attn, query, keys, key_mask=None, causal=False):
    """One example: query (Tq, D), keys (Tk, D) -> (alpha (Nh, Tq, Tk), output (Tq, D), f (Nh, Tk, D)),
    [Vaswani17] Eq. 1 and [Kobayashi20]'s f^h(x) = (x W_V^h + b_V^h) W_O^h."""
    wq, bq, wk, bk, wv, bv = _projections(attn)
    nh, dh, share = attn.n_heads, attn.head_dim, attn.n_heads // attn.num_kv_heads
    tq, tk = query.shape[0], keys.shape[0]
    alpha = torch.zeros(nh, tq, tk, dtype=query.dtype)
    f = torch.zeros(nh, tk, attn.d_model, dtype=query.dtype)
    out = attn.out_proj.bias.clone().expand(tq, -1).clone()
    for h in range(nh):
        g = h // share  # key/value head of query head h
        q = query @ wq[h * dh : (h + 1) * dh].T + bq[h * dh : (h + 1) * dh]
        k = keys @ wk[g * dh : (g + 1) * dh].T + bk[g * dh : (g + 1) * dh]
        v = keys @ wv[g * dh : (g + 1) * dh].T + bv[g * dh : (g + 1) * dh]
        for i in range(tq):
            scores = [(q[i] @ k[j]).item() / math.sqrt(dh) for j in range(tk)]
            allowed = [(key_mask is None or bool(key_mask[j])) and (not causal or j <= i) for j in range(tk)]
            top = max(s for s, a in zip(scores, allowed) if a)
            e = [math.exp(s - top) if a else 0.0 for s, a in zip(scores, allowed)]
            for j in range(tk):
                alpha[h, i, j] = e[j] / sum(e)
        f[h] = v @ attn.out_proj.weight[:, h * dh : (h + 1) * dh].T
        out = out + alpha[h] @ f[h]
    return alpha, out, f


def _ln(norm, x):
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _ff(ff, x):
    return F.linear(F.relu(F.linear(x, ff[0].weight, ff[0].bias)), ff[3].weight, ff[3].bias)


def plain_encoder(layers, x, mask):
    """One example through EncoderLayers: per layer (residual x, attention input h, alpha, f)."""
    steps = []
    for layer in layers:
        nf = layer.sub1.norm_first
        h = _ln(layer.sub1.norm, x) if nf else x
        alpha, out, f = plain_mha(layer.self_attn, h, h, mask)
        steps.append((x, alpha, f, layer))
        y = x + out
        x = y if nf else _ln(layer.sub1.norm, y)
        y = x + _ff(layer.ff, _ln(layer.sub2.norm, x) if nf else x)
        x = y if nf else _ln(layer.sub2.norm, y)
    return steps, x


def _alti_ref(x, alpha, f, layer, cross=False, sub=None):
    sub = sub or layer.sub1
    attn = layer.cross_attn if cross else layer.self_attn
    ln = None if sub.norm_first else (sub.norm.weight, sub.norm.bias, sub.norm.eps)
    return alti_reference(alpha, f, x, cross=cross, bias=attn.out_proj.bias, ln=ln)


@pytest.mark.parametrize("norm_first", [True, False])
def test_trace_is_the_forward_pass(norm_first):
    m = _model(norm_first, positional="alibi")
    src, lengths, tgt_in, tgt_out = _batch()
    inputs = transformer_encoder_inputs(m, src, lengths)
    _, out = encoder_trace(inputs)
    torch.testing.assert_close(m.enc_norm(out), m.encode(src, lengths).annotations)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("kv", [None, 2])
def test_norm_and_alti_of_an_encoder_match_the_papers(norm_first, kv):
    m = _model(norm_first, kv=kv)
    src, lengths, _, _ = _batch()
    inputs = transformer_encoder_inputs(m, src, lengths)
    norm, alti = explain("norm", inputs), explain("alti", inputs)
    att = explain("attention", inputs)
    for b in range(2):
        n = int(lengths[b])
        steps, _ = plain_encoder(m.encoder, inputs.x[b, :n], None)
        composed = torch.eye(n, dtype=torch.float64)
        for k, (x, alpha, f, layer) in enumerate(steps):
            torch.testing.assert_close(att.heads[b, k, :, :n, :n], alpha)
            for h in range(4):
                for i in range(n):
                    for j in range(n):  # [Kobayashi20] Eq. 5: ‖α f(x)‖ = α ‖f(x)‖
                        ref = (alpha[h, i, j] * f[h, j]).norm()
                        assert abs(norm.heads[b, k, h, i, j] - ref) < 1e-10
            layer_ref = torch.einsum("hij,hjd->ijd", alpha, f).norm(dim=-1)
            torch.testing.assert_close(norm.layers[b, k, :n, :n], layer_ref)
            c = _alti_ref(x, alpha, f, layer)
            torch.testing.assert_close(alti.layers[b, k, :n, :n], c)
            composed = c @ composed  # [Ferrando22] Eq. 11
        torch.testing.assert_close(alti.total[b, :n, :n], composed)


def plain_block_forward(layer, x, mask):
    """Differentiable one-example forward of an EncoderLayer from its parameters, returning the
    weights A (Nh, T, T) that the output is computed with."""
    nf = layer.sub1.norm_first
    h = _ln(layer.sub1.norm, x) if nf else x
    wq, bq, wk, bk, wv, bv = _projections(layer.self_attn)
    nh, dh = layer.self_attn.n_heads, layer.self_attn.head_dim
    q = (h @ wq.T + bq).view(-1, nh, dh).transpose(0, 1)
    k = (h @ wk.T + bk).view(-1, nh, dh).transpose(0, 1)
    v = (h @ wv.T + bv).view(-1, nh, dh).transpose(0, 1)
    scores = (q @ k.transpose(1, 2)) / math.sqrt(dh)
    a = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    out = (a @ v).transpose(0, 1).reshape(x.shape) @ layer.self_attn.out_proj.weight.T + layer.self_attn.out_proj.bias
    y = x + out
    x = y if nf else _ln(layer.sub1.norm, y)
    y = x + _ff(layer.ff, _ln(layer.sub2.norm, x) if nf else x)
    return (y if nf else _ln(layer.sub2.norm, y)), a


@pytest.mark.parametrize("norm_first", [True, False])
def test_grad_of_an_encoder_matches_autograd_on_the_formula(norm_first):
    m = _model(norm_first)
    src, lengths, _, _ = _batch()
    probe = torch.randn(8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    inputs = transformer_encoder_inputs(m, src, lengths)._replace(target=lambda h: h[:, 0] @ probe)
    ours = explain("grad", inputs)
    for b in range(2):
        n = int(lengths[b])
        x = inputs.x[b, :n].detach()
        weights = []
        for layer in m.encoder:
            x, a = plain_block_forward(layer, x, torch.ones(n, n, dtype=torch.bool))
            weights.append(a)
        final = m.enc_norm(x)
        grads = torch.autograd.grad(final[0] @ probe, weights)
        r = torch.eye(n, dtype=torch.float64)
        for k, (a, g) in enumerate(zip(weights, grads)):
            abar = (g * a).clamp_min(0).mean(0)  # [Chefer21b] Eq. 5
            torch.testing.assert_close(ours.layers[b, k, :n, :n], abar.detach())
            r = r + abar @ r  # Eq. 6
        torch.testing.assert_close(ours.total[b, :n, :n], r.detach())


def test_grad_needs_a_target():
    m = _model()
    src, lengths, _, _ = _batch()
    with pytest.raises(ValueError, match="target"):
        explain("grad", transformer_encoder_inputs(m, src, lengths))


@pytest.mark.parametrize("name", EXPLANATIONS.names())
def test_padding_is_exactly_zero_and_finite(name):
    m = _model()
    src, lengths, tgt_in, tgt_out = _batch()
    inputs = transformer_encoder_inputs(m, src, lengths)._replace(target=lambda h: h[:, 0].sum(-1))
    for exp, rows, cols in (
        (explain(name, inputs), 3, 3),
        (explain_translation(name, m, src, lengths, tgt_in, tgt_out), 3, 3),
    ):
        for maps in exp:
            if maps is None:
                continue
            assert torch.isfinite(maps).all()
            assert (maps[1, ..., rows:, :] == 0).all() and (maps[1, ..., :, cols:] == 0).all()
            assert (maps >= 0).all()


def test_rollout_of_an_encoder_is_abnar_rollout():
    m = _model()
    src, lengths, _, _ = _batch()
    ours = explain("rollout", transformer_encoder_inputs(m, src, lengths)).total
    mask = padding_mask(lengths, 5)
    x = m._embed(m.src_embedding, src, 0)
    weights = []
    for layer in m.encoder:
        x, w = layer(x, mask, None, True)
        weights.append(w)
    torch.testing.assert_close(ours[0], attention_rollout(weights)[0])
    torch.testing.assert_close(ours[1, :3, :3], attention_rollout([w[1:, :, :3, :3] for w in weights])[0])


def test_vit_rollout_and_grad():
    torch.manual_seed(0)
    vit = VisionTransformer(1, 3, (8, 8), patch_size=4, d_model=8, n_heads=2, layers=2, d_ff=16).double().eval()
    images = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    inputs = vit_encoder_inputs(vit, images)
    rollout = explain("rollout", inputs).total
    torch.testing.assert_close(rollout, attention_rollout(list(vit(images, need_weights=True).layer_weights)))
    grad = explain("grad", inputs)
    assert grad.total.shape == (2, 5, 5) and torch.isfinite(grad.total).all()
    # the class logit as target: gradient-weighted maps of the last layer are non-zero only in the class row
    assert (grad.layers[:, -1, 1:] == 0).all()


# --- encoder-decoder -----------------------------------------------------------------------------
def _plain_seq2seq(m, src, lengths, tgt_in):
    """Per example: encoder steps, memory, and per decoder layer (self step, cross step)."""
    out = []
    memory = m.encode(src, lengths).annotations
    y_all = m._embed(m.tgt_embedding, tgt_in, 0)
    for b in range(src.shape[0]):
        n = int(lengths[b])
        enc_steps, _ = plain_encoder(m.encoder, m._embed(m.src_embedding, src, 0)[b, :n], None)
        mem = memory[b, :n]
        y = y_all[b]
        dec = []
        for layer in m.decoder:
            nf = layer.sub1.norm_first
            h = _ln(layer.sub1.norm, y) if nf else y
            a_s, o, f_s = plain_mha(layer.self_attn, h, h, causal=True)
            self_step = (y, a_s, f_s)
            y = y + o if nf else _ln(layer.sub1.norm, y + o)
            a_c, o, f_c = plain_mha(layer.cross_attn, _ln(layer.sub2.norm, y) if nf else y, mem)
            cross_step = (y, a_c, f_c)
            y = y + o if nf else _ln(layer.sub2.norm, y + o)
            y = y + _ff(layer.ff, _ln(layer.sub3.norm, y)) if nf else _ln(layer.sub3.norm, y + _ff(layer.ff, y))
            dec.append((self_step, cross_step))
        out.append((enc_steps, dec))
    return out


@pytest.mark.parametrize("norm_first", [True, False])
def test_seq2seq_attention_norm_alti(norm_first):
    m = _model(norm_first, enc=1, dec=2)
    src, lengths, tgt_in, tgt_out = _batch()
    att = explain_translation("attention", m, src, lengths, tgt_in, tgt_out)
    norm = explain_translation("norm", m, src, lengths, tgt_in, tgt_out)
    alti = explain_translation("alti", m, src, lengths, tgt_in, tgt_out)
    maps = m.attention_maps(src, lengths, tgt_in)
    for b, (enc_steps, dec) in enumerate(_plain_seq2seq(m, src, lengths, tgt_in)):
        n, to = int(lengths[b]), int((tgt_out[b] != 0).sum())
        (ex, ea, ef, elayer) = enc_steps[0]
        c_enc = _alti_ref(ex, ea, ef, elayer)
        source = torch.zeros(tgt_in.shape[1], n, dtype=torch.float64)  # ALTI+: the source part of each row
        for k, ((x, a_s, f_s), (y, a_c, f_c)) in enumerate(dec):
            torch.testing.assert_close(att.heads[b, k, :, :to, :n], maps.cross[k][b, :, :to, :n])
            torch.testing.assert_close(att.heads[b, k, :, :to, :n], a_c[:, :to])
            torch.testing.assert_close(norm.heads[b, k, :, :to, :n], a_c[:, :to] * f_c.norm(dim=-1)[:, None, :])
            layer = m.decoder[k]
            source = _alti_ref(x, a_s, f_s, layer) @ source  # the self-attention block mixes target rows
            c_cross = _alti_ref(y, a_c, f_c, layer, cross=True, sub=layer.sub2)  # (To, Tk + 1): residual last
            torch.testing.assert_close(alti.layers[b, k, :to, :n], c_cross[:to, :n])
            source = c_cross[:, n : n + 1] * source + c_cross[:, :n] @ c_enc
        torch.testing.assert_close(alti.total[b, :to, :n], source[:to])


def test_seq2seq_rollout_follows_chefer_rules():
    m = _model()
    src, lengths, tgt_in, tgt_out = _batch()
    ours = explain_translation("rollout", m, src, lengths, tgt_in, tgt_out).total
    maps = m.attention_maps(src, lengths, tgt_in)

    def bar(r):  # Eqs. 8-9
        eye = torch.eye(r.shape[0], dtype=r.dtype)
        hat = r - eye
        return hat / hat.sum(-1, keepdim=True) + eye

    b, n, to = 0, 5, 4
    r_ss = torch.eye(n, dtype=torch.float64)
    for w in maps.encoder_self:
        r_ss = r_ss + w[b].mean(0) @ r_ss
    r_qq, r_qs = torch.eye(to, dtype=torch.float64), torch.zeros(to, n, dtype=torch.float64)
    for ws, wc in zip(maps.decoder_self, maps.cross):
        r_qs = r_qs + ws[b].mean(0) @ r_qs
        r_qq = r_qq + ws[b].mean(0) @ r_qq
        r_qs = r_qs + bar(r_qq).T @ wc[b].mean(0) @ bar(r_ss)  # Eq. 10
    torch.testing.assert_close(ours[b], r_qs)


def test_seq2seq_grad_layers_are_the_gradient_of_each_token_log_probability():
    m = _model()
    src, lengths, tgt_in, tgt_out = _batch()
    ours = explain_translation("grad", m, src, lengths, tgt_in, tgt_out)
    for layer in range(2):  # the model's own differentiable cross-attention path (guided alignment's)
        out = m(src, lengths, tgt_in, align_layer=layer)
        logp = out.logits.log_softmax(-1)
        for b in range(2):
            for t in range(int((tgt_out[b] != 0).sum())):
                (g,) = torch.autograd.grad(logp[b, t, tgt_out[b, t]], out.weights, retain_graph=True)
                abar = (g[b] * out.weights[b]).clamp_min(0).mean(0)[t]
                torch.testing.assert_close(
                    ours.layers[b, layer, t, : int(lengths[b])], abar[: int(lengths[b])].detach()
                )


def test_seq2seq_flow_matches_brute_force_on_its_graph():
    m = _model(enc=1, dec=1)
    src, _, tgt_in, tgt_out = _batch()
    ours = explain_translation("flow", m, src[:1, :3], torch.tensor([3]), tgt_in[:1, :2], tgt_out[:1, :2]).total[0]
    maps = m.attention_maps(src[:1, :3], torch.tensor([3]), tgt_in[:1, :2])
    ns, nt = 3, 2
    cap: dict[int, dict[int, float]] = {}

    def aug(w):
        a = 0.5 * w + 0.5 * torch.eye(w.shape[0], dtype=w.dtype)
        return a / a.sum(-1, keepdim=True)

    enc = aug(maps.encoder_self[0][0].mean(0))
    for i in range(ns):
        for j in range(ns):
            cap.setdefault(j, {})[ns + i] = enc[i, j].item()  # encoder input j -> encoder output i
    dec = aug(maps.decoder_self[0][0].mean(0))
    cross = maps.cross[0][0].mean(0)
    d_in, d_mid, d_out = 2 * ns, 2 * ns + nt, 2 * ns + 2 * nt
    for t in range(nt):
        for u in range(nt):
            if dec[t, u] > 0:
                cap.setdefault(d_in + u, {})[d_mid + t] = dec[t, u].item()
        cap.setdefault(d_mid + t, {})[d_out + t] = 0.5
        for j in range(ns):
            cap.setdefault(ns + j, {})[d_out + t] = 0.5 * cross[t, j].item()
    for t in range(nt):
        for j in range(ns):
            assert abs(ours[t, j].item() - _edmonds_karp(cap, j, d_out + t)) < 1e-5


def test_flow_refuses_costly_inputs_without_rows(monkeypatch):
    m = _model(enc=1, dec=1)
    src = torch.randint(3, 11, (1, 20))
    tgt = torch.randint(3, 13, (1, 3))
    monkeypatch.setattr(fx, "FLOW_MAX_WORK", 30 * 500)  # (400 + 9 + 60 + 3) edges: 30 problems, not 60
    with pytest.raises(ValueError, match="rows="):
        explain_translation("flow", m, src, torch.tensor([20]), tgt, tgt)
    one = explain_translation("flow", m, src, torch.tensor([20]), tgt, tgt, rows=[1]).total
    assert (one[0, [0, 2]] == 0).all() and (one[0, 1] > 0).any()
    with pytest.raises(ValueError, match="rows="):
        explain("flow", transformer_encoder_inputs(m, src, torch.tensor([20])))  # 400 problems x 400 edges


def test_rows_are_for_flow_only_and_training_mode_is_restored():
    m = _model()
    m.train()
    src, lengths, tgt_in, tgt_out = _batch()
    with pytest.raises(ValueError, match="flow only"):
        explain_translation("alti", m, src, lengths, tgt_in, tgt_out, rows=[0])
    with pytest.raises(ValueError, match="flow only"):
        explain("rollout", transformer_encoder_inputs(m, src, lengths), rows=[0])
    assert m.training and all(layer.training for layer in m.encoder)
    m = TransformerSeq2Seq(11, 13, d_model=8, n_heads=4, enc_layers=1, dec_layers=1, d_ff=16, dropout=0.5).train()
    inputs = transformer_encoder_inputs(m, src, lengths)  # the embeddings in eval mode (no dropout)
    torch.testing.assert_close(inputs.x, m.eval()._embed(m.src_embedding, src, 0))
    m.train()
    first = explain("alti", inputs).total
    torch.testing.assert_close(explain("alti", inputs).total, first)  # no dropout in the layers either
    assert m.training and all(layer.training for layer in m.encoder)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="attention, rollout, flow, norm, alti, grad"):
        EXPLANATIONS.get("lime")


def test_causal_stacks_and_the_prediction_maps():
    from attnkit.models.transformer import EncoderLayer

    torch.manual_seed(0)
    layers = [EncoderLayer(8, 2, 16, 0.0, True, None, None, "gelu_tanh", causal=True).double().eval() for _ in range(2)]
    x = torch.randn(1, 5, 8, dtype=torch.float64)
    inputs = EncoderInputs(layers, x, None, None, None, lambda h: h[:, -1].sum(-1))
    maps = self_attention_explanations(inputs, EXPLANATIONS.names())
    assert set(maps) == set(EXPLANATIONS.names())
    future = torch.ones(5, 5).triu(1).bool().numpy()
    for name, m in maps.items():
        assert m.shape == (5, 5) and m.dtype.name == "float32"
        assert (m[future] == 0).all(), name  # a token never draws on later ones
    torch.testing.assert_close(
        torch.from_numpy(maps["rollout"]).double(), explain("rollout", inputs).total[0].float().double()
    )
    with pytest.raises(ValueError, match="one sequence"):
        self_attention_explanations(inputs._replace(x=x.expand(2, -1, -1)), ["rollout"])
