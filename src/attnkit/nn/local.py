"""Local attention for RNN encoder-decoders: Luong's local-m and local-p [Luong15] Sec. 3.2.

At decoder step t, local attention looks only at a window of 2D + 1 source positions
[p_t - D, p_t + D] around an aligned position p_t:

* :class:`LocalMonotonicAttention` (local-m) sets p_t = t, assuming source and target are
  roughly monotonically aligned; the weights are the Eq. 7 softmax inside the window.
* :class:`LocalPredictiveAttention` (local-p) predicts p_t from the decoder state (Eq. 9) and
  multiplies the in-window softmax by a Gaussian centred at p_t (Eq. 10).

Both return the same :class:`~attnkit.nn.seq2seq.LuongAttended` as the global
:class:`~attnkit.nn.seq2seq.LuongAttention`, share its scores (:data:`LUONG_SCORES`) and its
attentional layer h~_t = tanh(W_c [c_t; h_t]) (Eq. 5), and split the work the same way:
:meth:`project_keys` once per source sentence, ``forward`` once per decoder step or for all
steps at once. Their parameter names match :class:`LuongAttention`'s (``scorer``,
``combine``), so a local-m checkpoint loads into the global module and vice versa.

Windows are built by :func:`attnkit.functional.local.local_window_mask` and the Gaussian by
:func:`attnkit.functional.local.gaussian_weights`, pure functions of layer 1. Masks are
boolean, ``True`` = may attend. Positions are 0-based token indices; the window radius D
(``window``) is in tokens.

References:
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional import fuse, masked_softmax
from ..functional.local import check_window, gaussian_weights, local_window_mask
from .seq2seq import LUONG_SCORES, LuongAttended, _check_3d

__all__ = ["LocalMonotonicAttention", "LocalPredictiveAttention"]


def _source_lengths(mask: Tensor | None, keys: Tensor) -> Tensor:
    """S_b from a right-padded (B, Tk) mask, (B,); Tk for every example when `mask` is None."""
    b, tk = keys.shape[:2]
    if mask is None:
        return torch.full((b,), tk, dtype=torch.long, device=keys.device)
    if mask.dtype != torch.bool:
        raise TypeError(
            f"mask must be torch.bool with True = may attend, got {mask.dtype}; "
            "convert with `mask.bool()` (or `~mask` if yours marks padding)"
        )
    if tuple(mask.shape) != (b, tk):
        raise ValueError(
            f"local attention needs a (B, Tk) = {(b, tk)} padding mask, got "
            f"{tuple(mask.shape)}; build one with attnkit.functional.padding_mask(lengths, Tk)"
        )
    lengths = mask.sum(-1)  # (B,)
    if not torch.equal(mask, torch.arange(tk, device=mask.device) < lengths.unsqueeze(1)):
        raise ValueError(
            "local attention needs a right-padded mask (True on a prefix of each row): windows "
            "are placed by source position; build it with padding_mask(lengths, Tk)"
        )
    return lengths


class _LocalLuongAttention(nn.Module):
    """Parameters and shared steps of local-m and local-p (not a public extension point)."""

    def __init__(
        self, query_dim: int, key_dim: int, window: int, score_name: str, attn_dim: int | None, min_window: int = 0
    ) -> None:
        super().__init__()
        check_window(window, min_window)
        self.query_dim, self.key_dim, self.window = query_dim, key_dim, window
        self.scorer = LUONG_SCORES.get(score_name)(query_dim, key_dim, attn_dim or query_dim)
        self.combine = nn.Linear(key_dim + query_dim, query_dim, bias=False)  # W_c

    def extra_repr(self) -> str:
        return f"window={self.window}"

    def project_keys(self, keys: Tensor) -> Tensor:
        """The step-independent part of the score for each annotation, (B, Tk, D*).

        Args:
            keys: annotations h_s, (B, Tk, Dk).

        Raises:
            ValueError: if `keys` is not (B, Tk, Dk).
        """
        _check_3d("keys", keys, self.key_dim, "B, Tk, Dk")
        return self.scorer.project_keys(keys)

    def _scores_and_lengths(
        self, query: Tensor, keys: Tensor, mask: Tensor | None, projected_keys: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Eq. 8 scores (B, Tq, Tk) for every source position, and the lengths S_b (B,)."""
        _check_3d("query", query, self.query_dim, "B, Tq, Dq")
        _check_3d("keys", keys, self.key_dim, "B, Tk, Dk")
        if query.shape[0] != keys.shape[0]:
            raise ValueError(f"query and keys must share the batch size B, got {query.shape[0]} and {keys.shape[0]}")
        lengths = _source_lengths(mask, keys)
        if projected_keys is None:
            projected_keys = self.scorer.project_keys(keys)
        elif tuple(projected_keys.shape[:2]) != tuple(keys.shape[:2]):
            raise ValueError(
                f"projected_keys must be (B, Tk, D*) with (B, Tk) = {tuple(keys.shape[:2])}, "
                f"got {tuple(projected_keys.shape)}; pass project_keys(keys)"
            )
        return self.scorer(query, projected_keys), lengths  # Eq. 8

    def _attended(self, weights: Tensor, query: Tensor, keys: Tensor) -> LuongAttended:
        context = fuse.weighted_sum(weights, keys)  # (B, Tq, Dk)
        attentional = torch.tanh(self.combine(torch.cat([context, query], dim=-1)))  # Eq. 5
        return LuongAttended(attentional, context, weights)


def _target_positions(positions: Tensor | int, tq: int, device: torch.device) -> Tensor:
    """Decoder step t of each query, (Tq,), from a start offset or an explicit (Tq,) tensor."""
    if isinstance(positions, Tensor):
        if positions.is_floating_point() or positions.dtype == torch.bool:
            raise TypeError(f"positions must be an integer tensor, got {positions.dtype}")
        if tuple(positions.shape) != (tq,):
            raise ValueError(
                f"positions must be an int or a (Tq,) = ({tq},) tensor, got shape {tuple(positions.shape)}"
            )
        steps = positions.to(device)
    elif isinstance(positions, int) and not isinstance(positions, bool):
        steps = positions + torch.arange(tq, device=device)  # query i is at step positions + i
    else:
        raise TypeError(f"positions must be an int or an integer tensor, got {positions!r}")
    if steps.numel() and int(steps.min()) < 0:
        raise ValueError(f"target positions must be >= 0, got minimum {int(steps.min())}")
    return steps


class LocalMonotonicAttention(_LocalLuongAttention):
    """Local-m attention: a window of radius D around p_t = t [Luong15] Sec. 3.2, Eqs. 5, 7, 8.

    For the query at decoder step t, a_t = softmax(score(h_t, h_s)) over the positions
    s in [t - D, t + D] ∩ [0, S_b - 1] (Eq. 7 restricted to the window) and exactly 0 elsewhere;
    c_t = sum_s a_t(s) h_s and h~_t = tanh(W_c [c_t; h_t]) (Eq. 5). At a step with t <= D and
    t + D >= S_b - 1 the window covers the whole sentence, and the module then equals
    :class:`LuongAttention` (for every step t <= D when D >= Tk - 1).

    Our ``window`` is the paper's D; ``scorer`` and ``combine`` hold W_a (and v_a) of Eq. 8
    and W_c of Eq. 5, named as in :class:`LuongAttention`.

    Args:
        query_dim: width of the decoder state h_t, Dq.
        key_dim: width of the annotations h_s, Dk.
        window: half-width D of the window in tokens, >= 0 (D = 0 attends to one token).
        score_name: ``"dot"``, ``"general"`` or ``"concat"`` (see :data:`LUONG_SCORES`).
        attn_dim: hidden width of the concat score, Da (unused by the other scores).
            Defaults to `query_dim`.

    Raises:
        TypeError: if `window` is not an int.
        ValueError: for a negative window, an unknown score name, or "dot" with
            ``query_dim != key_dim``.

    Differences from the paper:
        Positions are 0-based. The window is the paper's [t - D, t + D] ∩ [0, S_b - 1] as long
        as that is non-empty, i.e. for t <= S_b - 1 + D: once t passes the end of the source
        it shrinks, down to {S_b - 1} at t = S_b - 1 + D. The paper does not say what happens
        when it is empty (t > S_b - 1 + D); only there do we clamp the centre, to S_b - 1 + D,
        so those steps keep attending to the last token S_b - 1 alone. Scores are computed for
        all Tk positions and then masked, which costs O(Tq Tk) like global attention but gives
        the same weights as scoring only the window.
    """

    def __init__(
        self, query_dim: int, key_dim: int, *, window: int, score_name: str = "general", attn_dim: int | None = None
    ) -> None:
        super().__init__(query_dim, key_dim, window, score_name, attn_dim)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
        *,
        positions: Tensor | int = 0,
    ) -> LuongAttended:
        """Attentional states, contexts and windowed weights for each query.

        Args:
            query: decoder states h_t, (B, Tq, Dq).
            keys: annotations h_s (keys and values), (B, Tk, Dk).
            mask: right-padded boolean padding mask (B, Tk), ``True`` = real token; it gives
                the source lengths S_b. None = every example has length Tk.
            projected_keys: :meth:`project_keys` of `keys`; computed here when None.
            positions: decoder step t of the queries (0-based target positions): an int t0,
                putting query i at step t0 + i (pass the step number when decoding one token
                at a time), or an integer tensor (Tq,) with one step per query; >= 0.

        Returns:
            :class:`LuongAttended` with attentional (B, Tq, Dq), context (B, Tq, Dk) and
            weights (B, Tq, Tk): each row sums to 1 over its window, or to 0 when S_b = 0.

        Raises:
            TypeError: for a non-boolean mask or non-integer positions.
            ValueError: for wrongly shaped inputs, a mask that is not (B, Tk) right padding,
                or negative positions.
        """
        scores, lengths = self._scores_and_lengths(query, keys, mask, projected_keys)
        steps = _target_positions(positions, query.shape[1], query.device)  # (Tq,)
        centers = steps.expand(query.shape[0], -1)  # (B, Tq)   p_t = t
        in_window = local_window_mask(centers, lengths, self.window, keys.shape[1])
        weights = masked_softmax(scores, in_window)  # (B, Tq, Tk)   Eq. 7 inside the window
        return self._attended(weights, query, keys)


class LocalPredictiveAttention(_LocalLuongAttention):
    """Local-p attention: a predicted, Gaussian-weighted window [Luong15] Sec. 3.2, Eqs. 9, 10.

    For each decoder state h_t:

    * p_t = (S_b - 1) · sigmoid(v_p^T tanh(W_p h_t)), a real position in [0, S_b - 1] (Eq. 9);
    * a_t(s) = align(h_t, h_s) · exp(-(s - p_t)^2 / (2 sigma^2)) with sigma = D / 2 (Eq. 10),
      where align is the Eq. 7 softmax of the Eq. 8 score over the window
      [round(p_t) - D, round(p_t) + D] ∩ [0, S_b - 1]; a_t(s) = 0 outside it;
    * c_t = sum_s a_t(s) h_s and h~_t = tanh(W_c [c_t; h_t]) (Eq. 5).

    As in the paper the weights are not renormalised after the Gaussian, so each row sums to
    at most 1 (and the context is shorter than a convex combination). The window placement
    (rounding) has no gradient; W_p and v_p learn through the Gaussian, which depends on the
    real-valued p_t.

    Our ``position_proj`` is the paper's W_p (Dp x Dq), ``position_energy`` v_p (Dp,), and
    ``window`` D; ``scorer`` and ``combine`` are as in :class:`LuongAttention`.

    Args:
        query_dim: width of the decoder state h_t, Dq.
        key_dim: width of the annotations h_s, Dk.
        window: half-width D of the window in tokens, >= 1 (sigma = D / 2 must be positive).
        score_name: ``"dot"``, ``"general"`` or ``"concat"`` (see :data:`LUONG_SCORES`).
        attn_dim: hidden width Dp of the position predictor W_p, and Da of the concat score.
            Defaults to `query_dim`.

    Raises:
        TypeError: if `window` is not an int.
        ValueError: for a window < 1, an unknown score name, or "dot" with
            ``query_dim != key_dim``.

    Differences from the paper:
        Eq. 9 scales by S, the source length; with our 0-based positions that would let p_t
        reach S, one past the last token, so we scale by S_b - 1 and p_t stays on the
        sentence (S_b = 0 gives p_t = 0 and all-zero weights). The paper writes the window
        as [p_t - D, p_t + D] with real p_t; we centre it on round(p_t) (half up) so it always
        holds 2D + 1 positions before clipping, while the Gaussian uses the unrounded p_t.
        Scores are computed for all Tk positions and then masked (same weights, O(Tq Tk)).
    """

    def __init__(
        self, query_dim: int, key_dim: int, *, window: int, score_name: str = "general", attn_dim: int | None = None
    ) -> None:
        super().__init__(query_dim, key_dim, window, score_name, attn_dim, min_window=1)
        hidden = attn_dim or query_dim
        self.sigma = window / 2  # [Luong15] Sec. 3.2: sigma = D / 2
        self.position_proj = nn.Linear(query_dim, hidden, bias=False)  # W_p
        self.position_energy = nn.Parameter(torch.empty(hidden))  # v_p
        nn.init.uniform_(self.position_energy, -(hidden**-0.5), hidden**-0.5)

    def predict_positions(self, query: Tensor, lengths: Tensor) -> Tensor:
        """Aligned source positions p_t = (S_b - 1) · sigmoid(v_p^T tanh(W_p h_t)) (Eq. 9).

        Args:
            query: decoder states h_t, (B, Tq, Dq).
            lengths: source lengths S_b, (B,), integer.

        Returns:
            Real positions p_t in [0, max(S_b - 1, 0)], in tokens (0-based), (B, Tq).

        Raises:
            ValueError: if `query` is not (B, Tq, Dq) or `lengths` is not (B,).
        """
        _check_3d("query", query, self.query_dim, "B, Tq, Dq")
        if tuple(lengths.shape) != (query.shape[0],):
            raise ValueError(f"lengths must be (B,) = ({query.shape[0]},), got {tuple(lengths.shape)}")
        energy = torch.tanh(self.position_proj(query)) @ self.position_energy  # (B, Tq)
        last = (lengths - 1).clamp(min=0).to(energy.dtype).unsqueeze(1)  # (B, 1)
        return last * torch.sigmoid(energy)  # (B, Tq)   Eq. 9

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
        *,
        positions: Tensor | int = 0,
    ) -> LuongAttended:
        """Attentional states, contexts and Gaussian-weighted window weights for each query.

        Args:
            query: decoder states h_t, (B, Tq, Dq).
            keys: annotations h_s (keys and values), (B, Tk, Dk).
            mask: right-padded boolean padding mask (B, Tk), ``True`` = real token; it gives
                the source lengths S_b. None = every example has length Tk.
            projected_keys: :meth:`project_keys` of `keys`; computed here when None.
            positions: not used: local-p predicts p_t from the query. Accepted so that
                local-m and local-p can be swapped without changing the caller.

        Returns:
            :class:`LuongAttended` with attentional (B, Tq, Dq), context (B, Tq, Dk) and
            weights (B, Tq, Tk) in [0, 1]; each row sums to at most 1 (no renormalisation
            after the Gaussian), 0 when S_b = 0.

        Raises:
            TypeError: for a non-boolean mask.
            ValueError: for wrongly shaped inputs or a mask that is not (B, Tk) right padding.
        """
        del positions  # local-p predicts its own centres (Eq. 9)
        scores, lengths = self._scores_and_lengths(query, keys, mask, projected_keys)
        tk = keys.shape[1]
        centers = self.predict_positions(query, lengths)  # (B, Tq)   Eq. 9
        align = masked_softmax(scores, local_window_mask(centers, lengths, self.window, tk))
        weights = align * gaussian_weights(centers, tk, self.sigma)  # (B, Tq, Tk)   Eq. 10
        return self._attended(weights, query, keys)
