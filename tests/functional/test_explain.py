"""The maths of attnkit.functional.explain against each paper's formula, written out with loops."""

from __future__ import annotations

import math
from collections import deque

import pytest
import torch

from attnkit.functional import attention_rollout
from attnkit.functional import explain as fx


def _softmax_rows(b: int, nh: int, tq: int, tk: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(b, nh, tq, tk, generator=g, dtype=torch.float64).softmax(-1)


# --- rollout -------------------------------------------------------------------------------------
def test_rollout_is_the_product_of_residual_augmented_layers():
    g = torch.Generator().manual_seed(0)
    layers = [_softmax_rows(1, 2, 4, 4, g).mean(1) for _ in range(3)]
    ref = torch.eye(4, dtype=torch.float64)
    for w in layers:  # [Abnar20] Sec. 3: A = 0.5 W + 0.5 I, rows normalised; R = A_l R
        a = torch.zeros(4, 4, dtype=torch.float64)
        for i in range(4):
            for j in range(4):
                a[i, j] = 0.5 * w[0, i, j] + 0.5 * (i == j)
            a[i] = a[i] / sum(a[i, j] for j in range(4))
        new = torch.zeros(4, 4, dtype=torch.float64)
        for i in range(4):
            for j in range(4):
                new[i, j] = sum(a[i, k] * ref[k, j] for k in range(4))
        ref = new
    ours = fx.compose([fx.residual_augmented(w) for w in layers])[0]
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours, attention_rollout(layers)[0])  # the existing rollout agrees


def test_residual_augmented_padding_is_zero():
    g = torch.Generator().manual_seed(1)
    w = _softmax_rows(2, 1, 4, 4, g)[:, 0]
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    a = fx.residual_augmented(w, mask)
    assert torch.isfinite(a).all()
    assert (a[1, 2:] == 0).all() and (a[1, :, 2:] == 0).all()
    torch.testing.assert_close(a[1, :2].sum(-1), torch.ones(2, dtype=torch.float64))


# --- flow ------------------------------------------------------------------------------------------
def _edmonds_karp(cap: dict[int, dict[int, float]], s: int, t: int) -> float:
    """Max flow by shortest augmenting paths (Edmonds-Karp), floats, written for the test."""
    residual: dict[int, dict[int, float]] = {}
    for u, outs in cap.items():
        for v, c in outs.items():
            residual.setdefault(u, {}).setdefault(v, 0.0)
            residual[u][v] += c
            residual.setdefault(v, {}).setdefault(u, 0.0)
    total = 0.0
    while True:
        parent = {s: s}
        queue = deque([s])
        while queue and t not in parent:
            u = queue.popleft()
            for v, c in residual.get(u, {}).items():
                if c > 1e-15 and v not in parent:
                    parent[v] = u
                    queue.append(v)
        if t not in parent:
            return total
        push, v = math.inf, t
        while v != s:
            push, v = min(push, residual[parent[v]][v]), parent[v]
        v = t
        while v != s:
            residual[parent[v]][v] -= push
            residual[v][parent[v]] += push
            v = parent[v]
        total += push


def test_flow_matches_brute_force_max_flow_two_layers_three_tokens():
    g = torch.Generator().manual_seed(2)
    layers = [_softmax_rows(1, 3, 3, 3, g) for _ in range(2)]  # per head; flow averages them
    ours = fx.attention_flow(layers)[0]
    n = 3
    cap: dict[int, dict[int, float]] = {}
    for k, w in enumerate(layers):
        wbar = w[0].mean(0)
        for i in range(n):
            row = [0.5 * wbar[i, j].item() + 0.5 * (i == j) for j in range(n)]
            for j in range(n):  # edge (l, j) -> (l + 1, i) with capacity A_l[i, j]
                cap.setdefault(k * n + j, {})[(k + 1) * n + i] = row[j] / sum(row)
    for i in range(n):
        for j in range(n):
            ref = _edmonds_karp(cap, j, 2 * n + i)
            assert abs(ours[i, j].item() - ref) < 1e-5, (i, j, ours[i, j].item(), ref)


def test_flow_rows_and_bound():
    g = torch.Generator().manual_seed(3)
    layers = [_softmax_rows(1, 1, 6, 6, g) for _ in range(2)]
    full = fx.attention_flow(layers)
    one = fx.attention_flow(layers, rows=[2])
    torch.testing.assert_close(one[0, 2], full[0, 2])
    assert (one[0, [0, 1, 3, 4, 5]] == 0).all()
    with pytest.raises(ValueError, match="rows="):  # 36 problems x 72 edges
        fx.attention_flow(layers, max_work=1000)
    torch.testing.assert_close(fx.attention_flow(layers, rows=[2], max_work=1000), one)  # 6 x 72
    with pytest.raises(ValueError, match="rows must be"):
        fx.attention_flow(layers, rows=[6])


def test_flow_padding_is_zero():
    g = torch.Generator().manual_seed(4)
    mask = torch.tensor([[True, True, True, False]])
    layers = [_softmax_rows(1, 1, 4, 4, g) for _ in range(2)]
    out = fx.attention_flow(layers, mask)
    assert (out[0, 3] == 0).all() and (out[0, :, 3] == 0).all()
    # the padded token is not in the graph: the same as the unpadded 3 tokens
    torch.testing.assert_close(
        out[0, :3, :3], fx.attention_flow([w[..., :3, :3] for w in layers])[0], atol=1e-5, rtol=0
    )


# --- norm ------------------------------------------------------------------------------------------
def test_value_norms_per_head_and_per_layer():
    g = torch.Generator().manual_seed(5)
    b, nh, tq, tk, d = 2, 3, 4, 5, 6
    alpha = _softmax_rows(b, nh, tq, tk, g)
    f = torch.randn(b, nh, tk, d, generator=g, dtype=torch.float64)
    heads = fx.value_norms(alpha, f)
    layer = fx.value_norms(alpha, f, per_head=False)
    for bb in range(b):
        for i in range(tq):
            for j in range(tk):
                summed = torch.zeros(d, dtype=torch.float64)
                for h in range(nh):
                    vec = alpha[bb, h, i, j] * f[bb, h, j]  # α_ij f^h(x_j), [Kobayashi20] Eq. 5
                    assert abs(heads[bb, h, i, j] - vec.norm()) < 1e-12
                    summed += vec
                assert abs(layer[bb, i, j] - summed.norm()) < 1e-12


# --- ALTI ------------------------------------------------------------------------------------------
def alti_reference(alpha, f, residual, *, cross=False, bias=None, ln=None):
    """[Ferrando22] Eqs. 6-10 step by step for one example: alpha (Nh, Tq, Tk), f (Nh, Tk, D),
    residual (Tq, D) -> (Tq, Tk) or (Tq, Tk + 1)."""
    nh, tq, tk = alpha.shape
    d = f.shape[-1]
    out = torch.zeros(tq, tk + int(cross), dtype=torch.float64)
    for i in range(tq):
        vectors = []
        for j in range(tk):
            v = torch.zeros(d, dtype=torch.float64)
            for h in range(nh):
                v = v + alpha[h, i, j] * f[h, j]
            if not cross and i == j:
                v = v + residual[i]
            vectors.append(v)
        if cross:
            vectors.append(residual[i].clone())
        b_o = torch.zeros(d, dtype=torch.float64) if bias is None else bias.double()
        if ln is not None:
            gamma, beta, eps = ln
            z = sum(vectors) + b_o
            sigma = math.sqrt(((z - z.mean()) ** 2).mean().item() + eps)
            vectors = [gamma * (v - v.mean()) / sigma for v in vectors]
            y = sum(vectors) + gamma * (b_o - b_o.mean()) / sigma + beta
        else:
            y = sum(vectors) + b_o
        raw = [max(0.0, -(y - v).abs().sum().item() + y.abs().sum().item()) for v in vectors]
        for j, r in enumerate(raw):
            out[i, j] = r / sum(raw)
    return out


@pytest.mark.parametrize("post_ln", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_alti_contributions_match_the_equations(post_ln, cross):
    g = torch.Generator().manual_seed(6)
    nh, t, d = 2, 4, 6
    tk = 5 if cross else t
    alpha = _softmax_rows(1, nh, t, tk, g)
    f = torch.randn(1, nh, tk, d, generator=g, dtype=torch.float64)
    residual = torch.randn(1, t, d, generator=g, dtype=torch.float64)
    bias = torch.randn(d, generator=g, dtype=torch.float64)
    ln = (1 + torch.rand(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64), 1e-5)
    ours = fx.alti_contributions(
        alpha, f, residual, residual_column=cross, output_bias=bias, layer_norm=ln if post_ln else None
    )
    ref = alti_reference(alpha[0], f[0], residual[0], cross=cross, bias=bias, ln=ln if post_ln else None)
    torch.testing.assert_close(ours[0], ref)


def test_alti_padding_is_zero_never_nan():
    g = torch.Generator().manual_seed(7)
    mask = torch.tensor([[True, True, False]])
    scores = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64).masked_fill(~mask[:, None, None], -torch.inf)
    alpha = scores.softmax(-1)
    out = fx.alti_contributions(
        alpha,
        torch.randn(1, 2, 3, 4, generator=g, dtype=torch.float64),
        torch.randn(1, 3, 4, generator=g, dtype=torch.float64),
        query_mask=mask,
        key_mask=mask,
    )
    assert torch.isfinite(out).all()
    assert (out[0, 2] == 0).all() and (out[0, :, 2] == 0).all()
    torch.testing.assert_close(out[0, :2].sum(-1), torch.ones(2, dtype=torch.float64))


# --- gradient-weighted ---------------------------------------------------------------------------
def test_grad_weighted_and_relevance_rules():
    g = torch.Generator().manual_seed(8)
    nh, t = 3, 4
    a = _softmax_rows(1, nh, t, t, g)
    grad = torch.randn(1, nh, t, t, generator=g, dtype=torch.float64)
    abar = fx.grad_weighted(a, grad)[0]
    for i in range(t):
        for j in range(t):
            ref = sum(max(0.0, (grad[0, h, i, j] * a[0, h, i, j]).item()) for h in range(nh)) / nh
            assert abs(abar[i, j].item() - ref) < 1e-12
    r = torch.eye(t, dtype=torch.float64)
    ref_r = r + abar @ r  # [Chefer21b] Eq. 6
    torch.testing.assert_close(fx.relevance_self_update(r[None], abar[None])[0], ref_r)
    # Eq. 8-10: R̄ = (R - I) / rowsum + I; R^{qs} += R̄qq^T Ā R̄ss
    rqq = torch.eye(t, dtype=torch.float64) + torch.rand(t, t, generator=g, dtype=torch.float64)
    rss = torch.eye(5, dtype=torch.float64) + torch.rand(5, 5, generator=g, dtype=torch.float64)
    cross = torch.rand(t, 5, generator=g, dtype=torch.float64)
    rqs = torch.rand(t, 5, generator=g, dtype=torch.float64)

    def bar(m):
        n = m.shape[0]
        out = torch.zeros_like(m)
        for i in range(n):
            row = [m[i, j].item() - float(i == j) for j in range(n)]
            for j in range(n):
                out[i, j] = row[j] / sum(row) + float(i == j)
        return out

    ref = rqs.clone()
    bq, bs = bar(rqq), bar(rss)
    for i in range(t):
        for j in range(5):
            ref[i, j] += sum(bq[k, i] * cross[k, m] * bs[m, j] for k in range(t) for m in range(5))
    torch.testing.assert_close(fx.relevance_cross_update(rqs[None], rqq[None], rss[None], cross[None])[0], ref)


def test_query_chunks_give_the_same_maps(monkeypatch):
    g = torch.Generator().manual_seed(9)
    alpha = _softmax_rows(2, 2, 5, 5, g)
    f = torch.randn(2, 2, 5, 3, generator=g, dtype=torch.float64)
    residual = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    ln = (torch.rand(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64), 1e-5)
    whole = fx.alti_contributions(alpha, f, residual, layer_norm=ln), fx.value_norms(alpha, f, per_head=False)
    monkeypatch.setattr(fx, "_CHUNK_ELEMENTS", 2 * 5 * 3 * 2)  # two query rows at a time
    assert fx._query_chunk(2, 5, 3) == 2
    torch.testing.assert_close(fx.alti_contributions(alpha, f, residual, layer_norm=ln), whole[0])
    torch.testing.assert_close(fx.value_norms(alpha, f, per_head=False), whole[1])
