"""Attention modules for RNN encoder-decoders: additive (Bahdanau) and global Luong attention.

Both split the work into ``project_keys`` (once per source sentence: the part of the score that
does not depend on the decoder step) and ``forward`` (once per decoder step, or once for all
steps when the queries are known in advance). The projected keys go in and out explicitly:
modules hold no state between calls.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
    [Luong15] M.-T. Luong, H. Pham, C. D. Manning. Effective Approaches to Attention-based
    Neural Machine Translation. EMNLP 2015. arXiv:1508.04025.
    [Xu15] K. Xu, J. Ba, R. Kiros, K. Cho et al. Show, Attend and Tell: Neural Image Caption
    Generation with Visual Attention. ICML 2015. arXiv:1502.03044.
    [Tu16] Z. Tu, Z. Lu, Y. Liu, X. Liu, H. Li. Modeling Coverage for Neural Machine Translation.
    ACL 2016. arXiv:1601.04811.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..functional import NORMALISERS, Attended, fuse, masked_softmax, sample_hard, score
from ..registry import Registry

__all__ = ["AdditiveAttention", "CoverageAttention", "HardAttended", "LuongAttention", "LuongAttended", "LUONG_SCORES"]


def _check_3d(name: str, x: Tensor, width: int, letters: str) -> None:
    if x.dim() != 3 or x.shape[-1] != width:
        raise ValueError(f"{name} must be ({letters}) with last dim {width}, got {tuple(x.shape)}")


class AdditiveAttention(nn.Module):
    """Additive attention e_tj = v_a^T tanh(W_a s_{t-1} + U_a h_j) [Bahdanau15] Eq. 6, App. A.1.2.

    Our ``query_proj`` is the paper's W_a, ``key_proj`` U_a and ``energy`` v_a; the query is the
    previous decoder state s_{t-1} and the keys and values are the annotations h_j.

    Args:
        query_dim: width of the decoder state, Dq (the paper's n).
        key_dim: width of the annotations, Dk (2n for a bidirectional encoder).
        attn_dim: width of the hidden layer of the score, Da (the paper's n').
        bias: learn a bias b in tanh(W_a s + U_a h + b).
        normaliser: alignment function, a name in :data:`attnkit.functional.NORMALISERS`
            ("softmax" as in the paper, "sparsemax", "entmax15", "hard", "gumbel", ...).

    Raises:
        ValueError: for an unknown normaliser name.

    Differences from the paper:
        the optional bias term (absent in Eq. 6) is on by default, as in most implementations.
    """

    def __init__(
        self, query_dim: int, key_dim: int, attn_dim: int, *, bias: bool = True, normaliser: str = "softmax"
    ) -> None:
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        self.normaliser = _Normaliser(normaliser)
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False)  # W_a
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=bias)  # U_a (+ b)
        self.energy = nn.Parameter(torch.empty(attn_dim))  # v_a
        nn.init.uniform_(self.energy, -(attn_dim**-0.5), attn_dim**-0.5)

    def project_keys(self, keys: Tensor) -> Tensor:
        """U_a h_j for every annotation, once per source sentence.

        Args:
            keys: annotations h_j, (B, Tk, Dk).

        Returns:
            Projected keys, (B, Tk, Da).

        Raises:
            ValueError: if `keys` is not (B, Tk, Dk).
        """
        _check_3d("keys", keys, self.key_dim, "B, Tk, Dk")
        return self.key_proj(keys)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None = None, projected_keys: Tensor | None = None
    ) -> Attended | HardAttended:
        """Context vectors and alignment weights for each query.

        Args:
            query: decoder states s_{t-1}, (B, Tq, Dq).
            keys: annotations h_j, used as keys and values, (B, Tk, Dk).
            mask: boolean, ``True`` = may attend: a 2-D mask is always a (B, Tk) padding mask;
                other masks must be 3-D and broadcast to (B, Tq, Tk), e.g. (1, Tq, Tk).
            projected_keys: the result of :meth:`project_keys` for `keys`, (B, Tk, Da);
                computed here when None.

        Returns:
            :class:`Attended`: context (B, Tq, Dk), weights (B, Tq, Tk); with the "reinforce"
            normaliser a :class:`HardAttended`, which adds the log-probabilities of the sampled
            positions and the entropies (B, Tq) while training.

        Raises:
            ValueError: for wrongly shaped inputs or mask.
        """
        _check_3d("query", query, self.query_dim, "B, Tq, Dq")
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = score.additive(self.query_proj(query), projected_keys, self.energy)  # Eq. 6
        weights, log_prob, entropy, probs = self.normaliser(scores, mask, self.training)  # (B, Tq, Tk)
        return _attended(
            fuse.weighted_sum(weights, keys),
            weights,
            log_prob,
            entropy,  # Eq. 5
            self.normaliser.name == "reinforce",
            probs,
        )


class CoverageAttention(AdditiveAttention):
    """Additive attention that also sees the coverage C_{i-1,j} = sum_{k<i} alpha_{k,j}, the
    attention each source position has already received: e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j
    + V_a C_{i-1,j}) [Tu16] Eqs. 6-7 (the "linguistic" coverage without fertility).

    Args:
        query_dim, key_dim, attn_dim, bias, normaliser: as :class:`AdditiveAttention`.

    Differences from the paper: coverage is the plain running sum of past weights (Tu et al.'s
    linguistic coverage with fertility 1), not the fertility-scaled or GRU-updated variants.
    """

    def __init__(
        self, query_dim: int, key_dim: int, attn_dim: int, *, bias: bool = True, normaliser: str = "softmax"
    ) -> None:
        super().__init__(query_dim, key_dim, attn_dim, bias=bias, normaliser=normaliser)
        self.coverage_proj = nn.Parameter(torch.zeros(attn_dim))  # V_a, zero: starts as plain Bahdanau

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        mask: Tensor | None = None,
        projected_keys: Tensor | None = None,
        *,
        coverage: Tensor | None = None,
    ) -> Attended | HardAttended:
        """As :meth:`AdditiveAttention.forward`, with `coverage` (B, Tq, Tk): the attention each
        key has received before each query's step. None is the coverage before the first step,
        C_0 = 0 (then the result is :class:`AdditiveAttention`'s with the same parameters), so
        this module can stand wherever an :class:`AdditiveAttention` is called; a decoder passes
        the running sum at every later step.

        Raises:
            ValueError: for wrongly shaped inputs, mask or coverage.
        """
        _check_3d("query", query, self.query_dim, "B, Tq, Dq")
        if coverage is None:
            coverage = query.new_zeros(query.shape[0], query.shape[1], keys.shape[1])  # C_0 = 0
        if coverage.shape != (query.shape[0], query.shape[1], keys.shape[1]):
            raise ValueError(
                f"coverage must be (B, Tq, Tk) = {(query.shape[0], query.shape[1], keys.shape[1])}, "
                f"got {tuple(coverage.shape)}"
            )
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        pair = coverage.unsqueeze(-1) * self.coverage_proj  # (B, Tq, Tk, Da)   V_a C_{i-1,j}
        scores = score.additive(self.query_proj(query), projected_keys, self.energy, pair)  # [Tu16] Eq. 7
        weights, log_prob, entropy, probs = self.normaliser(scores, mask, self.training)
        return _attended(
            fuse.weighted_sum(weights, keys), weights, log_prob, entropy, self.normaliser.name == "reinforce", probs
        )


class HardAttended(NamedTuple):
    """Output of :class:`AdditiveAttention` with ``normaliser="reinforce"``: :class:`Attended`'s
    context and weights, plus what the REINFORCE loss needs (None outside training)."""

    context: Tensor  # (B, Tq, Dk)
    weights: Tensor  # one-hot (B, Tq, Tk)
    log_prob: Tensor | None  # (B, Tq): log-probability of each sampled position
    entropy: Tensor | None  # (B, Tq): entropy of each alignment distribution
    probs: Tensor | None = None  # (B, Tq, Tk): the distribution alpha the positions were sampled from


def _attended(
    context: Tensor,
    weights: Tensor,
    log_prob: Tensor | None,
    entropy: Tensor | None,
    sampling: bool,
    probs: Tensor | None = None,
) -> Attended | HardAttended:
    return HardAttended(context, weights, log_prob, entropy, probs) if sampling else Attended(context, weights)


class _Normaliser:
    """A registry normaliser chosen by name. The sampling ones ("gumbel", "reinforce") become
    "hard" (argmax) outside training, as hard attention is used at inference [Xu15] Sec. 4.1.
    "reinforce" also returns the log-probability of each sampled position and the entropy of the
    distribution, for the REINFORCE loss; the others return None for both."""

    _AT_INFERENCE = {"gumbel": "hard", "reinforce": "hard"}

    def __init__(self, name: str) -> None:
        self.name = name
        self.train_fn = NORMALISERS.get(name)
        self.eval_fn = NORMALISERS.get(self._AT_INFERENCE.get(name, name))

    def __call__(
        self, scores: Tensor, mask: Tensor | None, training: bool
    ) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
        """(weights, log_prob | None, entropy | None, probs | None) for scores (B, Tq, Tk); the last
        three only for "reinforce" while training (probs: the distribution sampled from)."""
        if training and self.name == "reinforce":
            weights, log_prob = sample_hard(scores, mask)
            probs = masked_softmax(scores, mask)
            entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1)  # (B, Tq)
            return weights, log_prob, entropy, probs
        return (self.train_fn if training else self.eval_fn)(scores, mask), None, None, None


class LuongAttended(NamedTuple):
    """Output of :class:`LuongAttention`."""

    attentional: Tensor  # h~_t = tanh(W_c [c_t; h_t]), (B, Tq, Dq)
    context: Tensor  # c_t, (B, Tq, Dk)
    weights: Tensor  # a_t, (B, Tq, Tk)


class _LuongScore(nn.Module):
    """Base of the scores in :data:`LUONG_SCORES`, built as ``cls(query_dim, key_dim, attn_dim)``:
    ``project_keys`` once per source sentence, ``forward(query, projected_keys)`` -> scores."""

    def project_keys(self, keys: Tensor) -> Tensor:
        """The step-independent part of the score for each annotation, (B, Tk, Dk) -> (B, Tk, D*)."""
        raise NotImplementedError

    def forward(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """Scores (B, Tq, Tk) of queries (B, Tq, Dq) against projected keys (B, Tk, D*)."""
        raise NotImplementedError


class _DotScore(_LuongScore):
    """score(h_t, h_s) = h_t^T h_s [Luong15] Eq. 8."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        if query_dim != key_dim:
            raise ValueError(
                f"the dot score needs equal decoder and annotation widths, got {query_dim} and "
                f"{key_dim}; use 'general' or 'concat', or make the widths equal"
            )

    def project_keys(self, keys: Tensor) -> Tensor:
        return keys

    def forward(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return score.dot(query, projected_keys)


class _GeneralScore(_LuongScore):
    """score(h_t, h_s) = h_t^T W_a h_s [Luong15] Eq. 8; W_a h_s is the projected key."""

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Linear(key_dim, query_dim, bias=False)  # W_a

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)

    def forward(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return score.dot(query, projected_keys)


class _ConcatScore(_LuongScore):
    """score(h_t, h_s) = v_a^T tanh(W_a [h_t; h_s]) [Luong15] Eq. 8.

    W_a [h_t; h_s] is split as W_q h_t + W_k h_s so that W_k h_s is computed once.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(query_dim, attn_dim, bias=False)
        self.key_proj = nn.Linear(key_dim, attn_dim, bias=False)
        self.energy = nn.Parameter(torch.empty(attn_dim))  # v_a
        nn.init.uniform_(self.energy, -(attn_dim**-0.5), attn_dim**-0.5)

    def project_keys(self, keys: Tensor) -> Tensor:
        return self.key_proj(keys)

    def forward(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        return score.additive(self.query_proj(query), projected_keys, self.energy)


LUONG_SCORES: Registry[type[_LuongScore]] = Registry("Luong score")
LUONG_SCORES.register("dot", _DotScore, "h_t · h_s", "[Luong15] Eq. 8")
LUONG_SCORES.register("general", _GeneralScore, "h_t^T W_a h_s", "[Luong15] Eq. 8")
LUONG_SCORES.register("concat", _ConcatScore, "v_a^T tanh(W_a [h_t; h_s])", "[Luong15] Eq. 8")


class LuongAttention(nn.Module):
    """Global attention on the current decoder state h_t [Luong15] Sec. 3.1, Eqs. 5, 7, 8.

    Computes a_t = softmax(score(h_t, h_s)) (Eq. 7), c_t = sum_s a_t(s) h_s, and the attentional
    hidden state h~_t = tanh(W_c [c_t; h_t]) (Eq. 5).

    Args:
        query_dim: width of the decoder state h_t, Dq.
        key_dim: width of the annotations h_s, Dk.
        score_name: ``"dot"``, ``"general"`` or ``"concat"`` (see :data:`LUONG_SCORES`).
        attn_dim: hidden width of the concat score, Da (ignored by the other scores, which
            have no such layer). Defaults to `query_dim`.
        normaliser: alignment function, a name in :data:`attnkit.functional.NORMALISERS`
            ("softmax" as in the paper).

    Raises:
        ValueError: for an unknown score or normaliser name, or "dot" with
            ``query_dim != key_dim``.
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        *,
        score_name: str = "general",
        attn_dim: int | None = None,
        normaliser: str = "softmax",
    ) -> None:
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        if normaliser == "reinforce":
            raise ValueError(
                "normaliser 'reinforce' is trained through AdditiveAttention's log-probabilities; "
                "use it with Bahdanau attention, or 'gumbel'/'hard' here"
            )
        self.normaliser = _Normaliser(normaliser)
        self.scorer = LUONG_SCORES.get(score_name)(query_dim, key_dim, attn_dim or query_dim)
        self.combine = nn.Linear(key_dim + query_dim, query_dim, bias=False)  # W_c

    def project_keys(self, keys: Tensor) -> Tensor:
        """The step-independent part of the score for each annotation (B, Tk, D*).

        Raises:
            ValueError: if `keys` is not (B, Tk, Dk).
        """
        _check_3d("keys", keys, self.key_dim, "B, Tk, Dk")
        return self.scorer.project_keys(keys)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor | None = None, projected_keys: Tensor | None = None
    ) -> LuongAttended:
        """Attentional states, contexts and weights for each query.

        Args:
            query: decoder states h_t, (B, Tq, Dq).
            keys: annotations h_s (keys and values), (B, Tk, Dk).
            mask: boolean, ``True`` = may attend: a 2-D mask is always a (B, Tk) padding mask;
                other masks must be 3-D and broadcast to (B, Tq, Tk), e.g. (1, Tq, Tk).
            projected_keys: :meth:`project_keys` of `keys`; computed here when None.

        Returns:
            :class:`LuongAttended` with attentional (B, Tq, Dq), context (B, Tq, Dk) and
            weights (B, Tq, Tk).

        Raises:
            ValueError: for wrongly shaped inputs or mask.
        """
        _check_3d("query", query, self.query_dim, "B, Tq, Dq")
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        scores = self.scorer(query, projected_keys)  # (B, Tq, Tk)   Eq. 8
        weights = self.normaliser(scores, mask, self.training)[0]  # Eq. 7
        context = fuse.weighted_sum(weights, keys)  # (B, Tq, Dk)
        attentional = torch.tanh(self.combine(torch.cat([context, query], dim=-1)))  # Eq. 5
        return LuongAttended(attentional, context, weights)
