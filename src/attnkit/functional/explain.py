"""Explanations beyond raw attention weights: the tensor maths, no parameters, no modules.

Each function takes what a layer computed (attention weights, value vectors already multiplied by
the output projection, residual streams, LayerNorm parameters, gradients) and returns maps
(..., Tq, Tk): how much input (key) j contributes to output (query) i. The model side
(:mod:`attnkit.models.explain`) collects those tensors from a stack of Transformer layers.

- :func:`residual_augmented`, :func:`compose`: attention rollout [Abnar20] Sec. 3 and the
  aggregation over layers that ALTI uses [Ferrando22] Sec. 4.
- :func:`attention_flow`, :func:`layered_max_flow`: attention flow [Abnar20] Sec. 3, max-flow in
  the layered graph of the residual-augmented weights.
- :func:`value_norms`: the norm-based analysis ‖α f(x)‖ [Kobayashi20] Sec. 3, per head and per layer.
- :func:`alti_contributions`: ALTI [Ferrando22] Sec. 3, Eqs. 6-10.
- :func:`grad_weighted`, :func:`relevance_self_update`, :func:`relevance_cross_update`: the
  gradient-weighted attention of [Chefer21b] Eqs. 5-11 (and [Chefer21a] Eq. 13's (∇A ⊙ A)^+).

Masks are boolean, True = a real token; padded keys get exactly 0 and padded query rows are all 0.

References:
    [Abnar20] S. Abnar, W. Zuidema. Quantifying Attention Flow in Transformers. ACL 2020.
    arXiv:2005.00928.
    [Kobayashi20] G. Kobayashi, T. Kuribayashi, S. Yokoi, K. Inui. Attention is Not Only a Weight:
    Analyzing Transformers with Vector Norms. EMNLP 2020. arXiv:2004.10102.
    [Ferrando22] J. Ferrando, G. I. Gállego, M. R. Costa-jussà. Measuring the Mixing of Contextual
    Information in the Transformer. EMNLP 2022. arXiv:2203.04212.
    [Chefer21a] H. Chefer, S. Gur, L. Wolf. Transformer Interpretability Beyond Attention
    Visualization. CVPR 2021. arXiv:2012.09838.
    [Chefer21b] H. Chefer, S. Gur, L. Wolf. Generic Attention-model Explainability for Interpreting
    Bi-Modal and Encoder-Decoder Transformers. ICCV 2021. arXiv:2103.15679.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "FLOW_MAX_WORK",
    "FLOW_SCALE",
    "check_flow_work",
    "residual_augmented",
    "compose",
    "masked_rows",
    "layered_max_flow",
    "attention_flow",
    "value_norms",
    "alti_contributions",
    "grad_weighted",
    "relevance_self_update",
    "relevance_cross_update",
    "handle_residual",
]

# attention flow refuses problems beyond this many edge visits (max-flow problems x graph edges): at
# the 0.2-0.4 us per edge and problem measured with scipy's Dinic on one CPU core, about a minute
FLOW_MAX_WORK = 300_000_000
FLOW_SCALE = 1_000_000  # capacities in [0, 1] become integers of 1e-6 for scipy's max-flow
_CHUNK_ELEMENTS = 1 << 24  # (B, q, Tk, D) tensors are built q query rows at a time, at most this many elements


def _query_chunk(b: int, tk: int, d: int) -> int:
    """Query rows per step so that a (B, q, Tk, D) tensor stays within _CHUNK_ELEMENTS."""
    return max(1, _CHUNK_ELEMENTS // max(1, b * tk * d))


def masked_rows(maps: Tensor, query_mask: Tensor | None, key_mask: Tensor | None) -> Tensor:
    """`maps` (B, ..., Tq, Tk) with padded query rows and key columns set to exactly 0.

    Args:
        maps: any maps, batch first.
        query_mask: (B, Tq) bool, True = real query, or None.
        key_mask: (B, Tk) bool, True = real key, or None.
    """
    keep = torch.ones(maps.shape[0], maps.shape[-2], maps.shape[-1], dtype=torch.bool, device=maps.device)
    if query_mask is not None:
        keep = keep & query_mask[:, :, None]
    if key_mask is not None:
        keep = keep & key_mask[:, None, :]
    keep = keep.view(maps.shape[0], *([1] * (maps.dim() - 3)), *keep.shape[1:])
    return torch.where(keep, maps, torch.zeros((), dtype=maps.dtype, device=maps.device))


def residual_augmented(weights: Tensor, mask: Tensor | None = None) -> Tensor:
    """The residual-augmented attention of one layer, A = 0.5 W + 0.5 I, rows divided by their sum
    [Abnar20] Sec. 3.

    Args:
        weights: (B, T, T) head-fused self-attention weights, rows (queries) summing to 1.
        mask: (B, T) bool, True = real token; padded rows and columns become 0 (the identity too).

    Returns:
        (B, T, T), rows of real tokens summing to 1.
    """
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    a = masked_rows(0.5 * weights + 0.5 * eye, mask, mask)
    return a / a.sum(-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)


def compose(maps: Sequence[Tensor]) -> Tensor:
    """The product of per-layer maps, last layer on the left: M_L ... M_2 M_1 (rollout's
    aggregation [Abnar20] Sec. 3; ALTI's [Ferrando22] Sec. 4, Eq. 11).

    Args:
        maps: one (B, T, T) map per layer, first layer first.

    Returns:
        (B, T, T): entry [i, j] is how much input token j reaches position i after the last layer.

    Raises:
        ValueError: for an empty `maps`.
    """
    if not maps:
        raise ValueError("maps is empty; pass one (B, T, T) map per layer, first layer first")
    out = maps[0]
    for m in maps[1:]:
        out = m @ out
    return out


# --- attention flow ----------------------------------------------------------------------------
def check_flow_work(n_problems: int, n_edges: int, *, max_work: int | None = None) -> None:
    """Refuse a flow computation of `n_problems` max-flow problems on a graph of `n_edges` edges
    when n_problems * n_edges > `max_work` (default: :data:`FLOW_MAX_WORK`).

    Raises:
        ValueError: one line with the estimate and the way out (fewer rows, shorter inputs).
    """
    max_work = FLOW_MAX_WORK if max_work is None else max_work
    if n_problems * n_edges > max_work:
        raise ValueError(
            f"attention flow here solves {n_problems} max-flow problems on {n_edges} edges "
            f"({n_problems * n_edges:.1e} edge visits, limit {max_work:.0e}, about 0.3 us each); "
            "pass rows=[...] with fewer positions to explain, or a shorter input"
        )


def layered_max_flow(
    n_nodes: int, edges: tuple[np.ndarray, np.ndarray, np.ndarray], sources: Sequence[int], sinks: Sequence[int]
) -> np.ndarray:
    """Maximum flow from each source node to each sink node of one directed graph.

    Capacities are floats in [0, 1], multiplied by :data:`FLOW_SCALE` and rounded to integers
    for :func:`scipy.sparse.csgraph.maximum_flow` (Dinic's algorithm), so each value is exact to
    about n_edges / FLOW_SCALE.

    Args:
        n_nodes: number of nodes N.
        edges: (tails, heads, capacities), each (E,): an edge tail -> head of that capacity;
            parallel edges add up.
        sources: source nodes.
        sinks: sink nodes.

    Returns:
        (len(sinks), len(sources)) float64 max-flow values (0 where source == sink).
    """
    from scipy.sparse import csr_matrix  # type: ignore[import-untyped]
    from scipy.sparse.csgraph import maximum_flow  # type: ignore[import-untyped]

    tails, heads, caps = edges
    scaled = np.rint(np.asarray(caps, dtype=np.float64) * FLOW_SCALE).astype(np.int32)
    keep = scaled > 0
    graph = csr_matrix((scaled[keep], (tails[keep], heads[keep])), shape=(n_nodes, n_nodes), dtype=np.int32)
    graph.sum_duplicates()
    out = np.zeros((len(sinks), len(sources)))
    for a, sink in enumerate(sinks):
        for b, source in enumerate(sources):
            if source != sink:
                out[a, b] = maximum_flow(graph, int(source), int(sink), method="dinic").flow_value / FLOW_SCALE
    return out


def attention_flow(
    weights: Sequence[Tensor],
    mask: Tensor | None = None,
    *,
    rows: Sequence[int] | None = None,
    max_work: int | None = None,
) -> Tensor:
    """Attention flow [Abnar20] Sec. 3: the maximum flow from input token j to position i after the
    last layer, in the graph whose nodes are the tokens at every layer boundary (L + 1 rows of T
    nodes) and whose edge from token j at boundary l - 1 to token i at boundary l has the
    capacity of the residual-augmented weight A_l[i, j] = (0.5 W_l + 0.5 I)[i, j], rows normalised
    (:func:`residual_augmented`).

    Cost: one max-flow problem per (row, input token) pair, on a graph of (L + 1) T nodes and
    L T^2 edges; Dinic's algorithm bounds each by O(V^2 E), and in practice each costs about
    0.2-0.4 us per edge on one CPU core (5 ms for T = 64, L = 6; 0.6 s for T = 512), so a full
    map costs T^2 of them: 16 s for T = 64, L = 6; about a minute for one row at T = 256; hours
    for all rows at T = 512. Hence the bound: rows x T x L T^2 edge visits must stay within
    `max_work` (:data:`FLOW_MAX_WORK`, about a minute); pass `rows`, the positions to explain
    (e.g. [0] for a class token), for longer inputs. With L = 6 a full map is allowed up to
    about 70 tokens, one row up to about 300.

    Args:
        weights: per layer, first layer first, (B, T, T) head-fused weights (or (B, Nh, T, T),
            averaged over the heads as in the paper).
        mask: (B, T) bool, True = real token; padded tokens are left out of the graph.
        rows: the query positions i to compute; None = all. Other rows are 0.
        max_work: the largest rows x T x (L T^2) allowed (edge visits); default
            :data:`FLOW_MAX_WORK`.

    Returns:
        (B, T, T) float of the weights' dtype: [b, i, j] the flow value from input j to output i,
        in [0, 1] (not normalised: the paper's raw max-flow value); 0 for padding and rows not asked.

    Raises:
        ValueError: for an empty `weights`, a row outside [0, T), or a computation beyond
            `max_work` (:func:`check_flow_work`).

    Differences from the paper:
        capacities are rounded to multiples of 1 / FLOW_SCALE (scipy's max-flow takes integers).
    """
    if not weights:
        raise ValueError("weights is empty; pass one attention map per layer, first layer first")
    fused = [w.mean(1) if w.dim() == 4 else w for w in weights]
    b, t = fused[0].shape[0], fused[0].shape[-1]
    n_max = t if mask is None else int(mask.sum(-1).max())
    asked = list(range(t)) if rows is None else list(rows)
    if any(not 0 <= r < t for r in asked):
        raise ValueError(f"rows must be positions in [0, {t}), got {asked}")
    check_flow_work(min(len(asked), n_max) * n_max, len(fused) * n_max**2, max_work=max_work)
    layers = [residual_augmented(w.detach().double(), mask).cpu().numpy() for w in fused]
    out = torch.zeros(b, t, t, dtype=torch.float64)
    for k in range(b):
        real = np.arange(t) if mask is None else np.flatnonzero(mask[k].cpu().numpy())
        n = len(real)
        edges = _self_edges([layer[k][np.ix_(real, real)] for layer in layers], n)
        keep = [int(np.searchsorted(real, r)) for r in asked if r in set(real.tolist())]
        flows = layered_max_flow((len(layers) + 1) * n, edges, range(n), [len(layers) * n + i for i in keep])
        out[k, real[keep][:, None], real[None, :]] = torch.from_numpy(flows)
    return out.to(fused[0].dtype).to(fused[0].device)


def _self_edges(layers: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the layered graph: node l n + j -> (l + 1) n + i with capacity A_{l+1}[i, j]."""
    tails, heads, caps = [], [], []
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    for k, a in enumerate(layers):
        tails.append(k * n + j.ravel())
        heads.append((k + 1) * n + i.ravel())
        caps.append(a.ravel())
    return np.concatenate(tails), np.concatenate(heads), np.concatenate(caps)


# --- norm-based analysis -----------------------------------------------------------------------
def value_norms(weights: Tensor, transformed: Tensor, *, per_head: bool = True) -> Tensor:
    """‖α_ij f(x_j)‖ of [Kobayashi20] Sec. 3, Eq. 5 (per head) and Sec. 4 (the layer).

    f^h(x) = (x W_V^h + b_V^h) W_O^h is value vector j of head h through that head's slice of the
    output projection, so that the attention output is sum_h sum_j α^h_ij f^h(x_j) + b_O.

    Args:
        weights: (B, Nh, Tq, Tk) attention weights α.
        transformed: (B, Nh, Tk, D) the f^h(x_j).
        per_head: True: ‖α^h_ij f^h(x_j)‖ = α^h_ij ‖f^h(x_j)‖ per head, (B, Nh, Tq, Tk);
            False: the layer's ‖sum_h α^h_ij f^h(x_j)‖, (B, Tq, Tk).

    Returns:
        Non-negative norms, (B, Nh, Tq, Tk) or (B, Tq, Tk); 0 where α is 0 (padded keys).
    """
    if per_head:
        return weights * transformed.norm(dim=-1)[:, :, None, :]  # α ‖f(x)‖, α >= 0
    parts = []
    chunk = _query_chunk(weights.shape[0], weights.shape[-1], transformed.shape[-1])
    for start in range(0, weights.shape[-2], chunk):
        w = weights[:, :, start : start + chunk]  # (B, Nh, q, Tk)
        summed = torch.einsum("bhqk,bhkd->bqkd", w, transformed)  # sum_h α f(x), (B, q, Tk, D)
        parts.append(summed.norm(dim=-1))
    return torch.cat(parts, dim=1)


# --- ALTI ----------------------------------------------------------------------------------------
def alti_contributions(
    weights: Tensor,
    transformed: Tensor,
    residual: Tensor,
    *,
    residual_column: bool = False,
    output_bias: Tensor | None = None,
    layer_norm: tuple[Tensor, Tensor, float] | None = None,
    query_mask: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> Tensor:
    """ALTI contributions of one attention block [Ferrando22] Sec. 3, Eqs. 6-10.

    The block's output for query i is decomposed into one vector per input:
    T_i(x_j) = sum_h α^h_ij f^h(x_j) (+ x_i when j is the query itself: the residual), so that
    y_i = sum_j T_i(x_j) + b_O. Post-LN blocks add LayerNorm: LN(z) = sum_j L_i(z_j) + β with
    L_i(z_j) = γ ⊙ (z_j - mean(z_j)) / σ(z_i), the standard deviation σ(z_i) = sqrt(Var(z_i) + eps)
    taken from the whole sum z_i (Eq. 7). The contribution of j to i is
    c_ij = max(0, -d(y_i, T_i(x_j)) + ‖y_i‖_1) / sum_k max(0, -d(y_i, T_i(x_k)) + ‖y_i‖_1),
    d the L1 distance (Eqs. 9-10).

    Args:
        weights: (B, Nh, Tq, Tk) attention weights α.
        transformed: (B, Nh, Tk, D) the f^h(x_j) (see :func:`value_norms`).
        residual: (B, Tq, D) the residual stream x_i added to the block's output.
        residual_column: False: self-attention (Tq = Tk): x_i joins T_i(x_i); True:
            cross-attention: the residual is its own input, an extra last column.
        output_bias: (D,) b_O, or None.
        layer_norm: (γ (D,), β (D,), eps) of a post-LN block's LayerNorm, or None (pre-LN: the
            residual sum is the output).
        query_mask: (B, Tq) bool, True = real query; padded rows are 0.
        key_mask: (B, Tk) bool, True = real key; padded keys get 0.

    Returns:
        (B, Tq, Tk) or (B, Tq, Tk + 1) with `residual_column`; rows of real queries sum to 1.

    Differences from the paper:
        the bias terms (b_O, and β of the LayerNorm) belong to no input, as in the paper and the
        authors' code; the LayerNorm's σ is sqrt(Var + eps) as the LayerNorm computes it (the
        authors' code uses the standard deviation of (z + eps)). Pre-LN blocks (no LayerNorm
        after the residual sum) are decomposed the same way without L, as in [Ferrando22b]'s
        code for pre-LN NMT models.
    """
    bq, _, tq, tk = weights.shape
    rows = []
    chunk = _query_chunk(bq, tk + 1, transformed.shape[-1])
    for start in range(0, tq, chunk):
        stop = min(start + chunk, tq)
        w = weights[:, :, start:stop]  # (B, Nh, q, Tk)
        parts = torch.einsum("bhqk,bhkd->bqkd", w, transformed)  # (B, q, Tk, D)
        res = residual[:, start:stop]  # (B, q, D)
        if residual_column:
            parts = torch.cat([parts, res[:, :, None]], dim=2)  # (B, q, Tk + 1, D)
        else:
            index = torch.arange(stop - start, device=parts.device)
            parts[:, index, index + start] += res  # x_i joins T_i(x_i)
        total = parts.sum(2)  # (B, q, D)
        bias_term = torch.zeros_like(total) if output_bias is None else output_bias.expand_as(total)
        if layer_norm is not None:  # Eq. 7: L_i(z_j) = γ (z_j - mean z_j) / σ(z_i)
            gamma, beta, eps = layer_norm
            z = total + bias_term
            sigma = (z.var(-1, unbiased=False, keepdim=True) + eps).sqrt()  # (B, q, 1)
            parts = parts.sub_(parts.mean(-1, keepdim=True)).mul_((gamma / sigma)[:, :, None])  # in place: no copies
            bias_term = gamma * (bias_term - bias_term.mean(-1, keepdim=True)) / sigma + beta
        y = parts.sum(2) + bias_term  # (B, q, D): the block's output
        distance = parts.sub_(y[:, :, None]).abs_().sum(-1)  # d(y_i, T_i(x_j)), Eq. 9 (parts is not used after)
        rows.append((y.abs().sum(-1, keepdim=True) - distance).clamp_min(0))  # Eq. 10's numerator
    c = torch.cat(rows, dim=1)  # (B, Tq, Tk [+ 1])
    if key_mask is not None and residual_column:
        key_mask = torch.cat([key_mask, key_mask.new_ones(bq, 1)], dim=1)
    c = masked_rows(c, query_mask, key_mask)
    return c / c.sum(-1, keepdim=True).clamp_min(torch.finfo(c.dtype).tiny)


# --- gradient-weighted attention -----------------------------------------------------------------
def grad_weighted(weights: Tensor, grads: Tensor) -> Tensor:
    """Ā = E_h[(∇A ⊙ A)^+] [Chefer21b] Eq. 5 ([Chefer21a] Eq. 13 with the attention's own gradient).

    Args:
        weights: (B, Nh, Tq, Tk) attention weights A.
        grads: (B, Nh, Tq, Tk) gradient of the scalar target with respect to A.

    Returns:
        (B, Tq, Tk), non-negative; 0 wherever A is 0 (padded keys, causal future).
    """
    return (grads * weights).clamp_min(0).mean(1)


def relevance_self_update(relevance: Tensor, abar: Tensor) -> Tensor:
    """R ← R + Ā R, the self-attention rule [Chefer21b] Eqs. 6-7 (R starts as the identity).

    Args:
        relevance: (B, Tq, Tk) relevance R of the inputs (columns) to the query positions (rows).
        abar: (B, Tq, Tq) the layer's self-attention map Ā over the query positions.
    """
    return relevance + abar @ relevance


def handle_residual(relevance: Tensor) -> Tensor:
    """R̄ = (R - I) / rowsum(R - I) + I, [Chefer21b] Eqs. 8-9 (rows of zeros stay I)."""
    eye = torch.eye(relevance.shape[-1], dtype=relevance.dtype, device=relevance.device)
    hat = relevance - eye
    return hat / hat.sum(-1, keepdim=True).clamp_min(torch.finfo(hat.dtype).tiny) + eye


def relevance_cross_update(relevance_qs: Tensor, relevance_qq: Tensor, relevance_ss: Tensor, abar: Tensor) -> Tensor:
    """R^{qs} ← R^{qs} + (R̄^{qq})^T Ā R̄^{ss}, the cross-attention rule [Chefer21b] Eq. 10.

    Args:
        relevance_qs: (B, Tq, Tk) relevance of the source (key) tokens to the query tokens.
        relevance_qq: (B, Tq, Tq) the query side's self-attention relevance.
        relevance_ss: (B, Tk, Tk) the source side's self-attention relevance.
        abar: (B, Tq, Tk) the cross-attention map Ā.
    """
    return relevance_qs + handle_residual(relevance_qq).transpose(-1, -2) @ abar @ handle_residual(relevance_ss)
