"""Batched beam search with the GNMT length penalty, n-best lists and per-hypothesis attention.

Every sentence of the batch keeps `beam_size` live hypotheses, all run as one batch of
B * beam_size rows through the model's ``step``; :class:`~attnkit.decoding.beam_state.BeamStates`
reorders the decoder states with the beams at every step (for the Transformer, whose beams share
one key/value buffer per sentence, only the table of which slots each beam may attend to). The
attention weights of each hypothesis travel with it, so the n-best list comes back with one
alignment per hypothesis.

References:
    [Wu16] Y. Wu, M. Schuster, Z. Chen, Q. V. Le, M. Norouzi et al. Google's Neural Machine
    Translation System: Bridging the Gap between Human and Machine Translation. 2016.
    arXiv:1609.08144. Sec. 7, Eq. 14 (length and coverage penalties).
"""

from __future__ import annotations

import heapq
import math
from typing import Sequence, cast

import torch
from torch import Tensor, nn

from ..data import Vocab
from ..heads import select_heads
from .beam_state import BeamStates, select_rows
from .greedy import Hypothesis, force_eos
from .options import STOP_RULES, DecodeOptions
from .protocols import StepDecoder

__all__ = ["beam_search", "length_penalty", "coverage_penalty", "select_rows", "STOP_RULES"]


def coverage_penalty(weights: Tensor, beta: float, floor: float = 1e-9) -> float:
    """GNMT coverage penalty cp = beta * sum_j log(min(sum_i alpha_ij, 1)) [Wu16] Eq. 14.

    Args:
        weights: a hypothesis' alignment weights (To, Tk), one row per output step (one map:
            for per-head weights pick one with :func:`attnkit.heads.select_heads`).
        beta: penalty weight >= 0; 0 gives 0.
        floor: lower bound inside the log, so a source position that sparse or hard attention
            never looked at costs beta * log(floor) instead of -inf.

    Returns:
        The penalty, <= 0 (added to the length-normalised log-probability).

    Differences from the paper:
        The `floor` (the paper takes log(min(., 1)) as is). :func:`beam_search` applies the
        penalty only to finished hypotheses, with the ``</s>`` step's row included in `weights`.
    """
    if beta == 0:
        return 0.0
    return _coverage_penalties(weights[None], [weights.shape[-1]], beta, floor)[0]


def _coverage_penalties(weights: Tensor, lengths: list[int], beta: float, floor: float = 1e-9) -> list[float]:
    """:func:`coverage_penalty` of n hypotheses at once: weights (n, To, Tk) padded to one Tk,
    hypothesis i covering its first lengths[i] source positions."""
    received = weights.sum(dim=1).clamp(min=floor, max=1.0)  # (n, Tk): sum_i alpha_ij
    positions = torch.arange(weights.shape[-1], device=weights.device)
    real = positions < torch.tensor(lengths, device=weights.device)[:, None]  # (n, Tk)
    logs = torch.where(real, received.log(), 0.0)  # padding positions are no part of the source
    return (beta * logs.sum(dim=1)).tolist()


def length_penalty(length: int, alpha: float, norm: str = "gnmt") -> float:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha [Wu16] Eq. 14; alpha = 0 gives 1.
    With ``norm="power"``: lp(Y) = |Y| ** alpha (Hugging Face's ``length_penalty``).

    Differences from the paper:
        :func:`beam_search` counts ``</s>`` in |Y|: it passes ``len(tokens) + 1``.
    """
    return float(length) ** alpha if norm == "power" else ((5.0 + length) / 6.0) ** alpha


class _Trail:
    """What each step chose, kept so that a finished hypothesis can be traced back to its tokens
    and alignment weights without copying every live hypothesis' history at every step.

    At step t the live rows (hypotheses) are numbered 0..N_t-1. ``weights[t]`` holds the weights
    (N_t, Tk), or (N_t, Nh, Tk) per head, that row r attended with at step t; ``tokens[t][r']``
    and ``parents[t][r']`` give, for row r' of step t + 1, the token it appended and its row at
    step t.
    """

    def __init__(self) -> None:
        self.weights: list[Tensor | None] = []
        self.tokens: list[list[int]] = []
        self.parents: list[list[int]] = []

    def trace(self, t: int, row: int) -> tuple[list[int], list[int]]:
        """Tokens (t,) of the hypothesis in row `row` at step t, and its row at steps 0..t."""
        tokens, rows = [], [row]
        for s in range(t - 1, -1, -1):
            tokens.append(self.tokens[s][row])
            row = self.parents[s][row]
            rows.append(row)
        return tokens[::-1], rows[::-1]

    def gather_weights(self, paths: list[list[int]]) -> list[Tensor]:
        """Weights (len(path), Tk), or per head (Nh, len(path), Tk), of each path of rows (one
        row per step from step 0), with one index per step for all paths together."""
        if not paths:
            return []
        offsets, total = [], 0
        for path in paths:
            offsets.append(total)
            total += len(path)
        # called only for a model that gives weights, which it then gives at every step
        weights = cast(list[Tensor], self.weights)
        first = weights[0]
        out = first.new_empty(total, *first.shape[1:])  # (sum of path lengths, [Nh,] Tk)
        for s in range(max(len(path) for path in paths)):
            where = [off + s for off, path in zip(offsets, paths) if len(path) > s]
            rows = [path[s] for path in paths if len(path) > s]
            out[where] = weights[s][rows]
        return [w.movedim(0, -2) for w in out.split([len(path) for path in paths])]  # ([Nh,] len, Tk)


@torch.no_grad()
def beam_search(
    model: nn.Module,
    src: Tensor,
    src_lengths: Tensor,
    max_len: int,
    options: DecodeOptions,
    *,
    prefix: Sequence[int] = (),
) -> list[list[Hypothesis]]:
    """Beam search for a batch of source sentences.

    A hypothesis ends when it emits ``</s>``; at `max_len` output tokens ``</s>`` is forced.
    Finished hypotheses are ranked by s(Y) = log P(Y) / lp(|Y|) + cp(Y) [Wu16] Eq. 14. A
    sentence stops once it has `n_best` finished hypotheses and its best live hypothesis can no
    longer beat the `n_best`-th best of them (so every one of the n-best list, not only the
    first, is settled), judged by `stop`:

    - ``"heuristic"``: the live score divided by the length penalty of one more token, lp(t +
      2), like Hugging Face's ``early_stopping=False`` but one token later. With ``alpha > 0`` a longer hypothesis
      could still overtake, so this may stop before the beam's best; about 30 % faster on the
      Bible test set at 0.1 BLEU less (see ``benchmarks/decode_speed.py``).
    - ``"current"``: the live score divided by the penalty of its current length, lp(t + 1)
      for t + 1 tokens without ``</s>``: Hugging Face's ``early_stopping=False`` exactly (its
      ``cur_len - decoder_prompt_len``); stops sooner than ``"heuristic"`` when alpha > 0.
    - ``"exact"``: the live score divided by the largest penalty, lp(max_len + 1). Scores only
      fall as tokens are added and cp <= 0, so nothing the beam could still find enters the
      n-best list: with a beam at least as wide as the number of candidates at every step
      (V * (V - 1) ** (max_len - 1)), the list is the exact top `n_best` of all outputs.

    With ``alpha = 0`` the two are the same. A stopped sentence's rows leave the batch.

    Each step takes every row's 2k best tokens (a sentence's 2k best candidates are among
    them), ranks the k * 2k candidates per sentence in float64, finishes the ``</s>`` ones among
    the top k and keeps the best k others: the selection is tensor code, and Python only sees
    the hypotheses that finish. Models with a ``fold_beams(memory, k)`` method (the
    Transformer) keep one copy of the encoder memory per sentence instead of k, and their beams
    share self-attention slots (see :mod:`attnkit.decoding.beam_state`).

    Args:
        model: a model with ``encode``, ``init_state`` and ``step`` (RNN or Transformer) whose
            decoder state has ``select(rows)``; a model with ``fold_beams`` also takes the
            interface of :mod:`attnkit.decoding.beam_state` (``step(..., visible=)``).
        src: source ids, (B, Tk), padded.
        src_lengths: (B,).
        max_len: maximum output tokens before ``</s>``.
        options: the beam's settings (validated when made; the batching and precision fields
            are :func:`~attnkit.decoding.decode`'s): ``beam_size`` k >= 1 live hypotheses per
            sentence; ``n_best`` 1 <= n_best <= k hypotheses returned per sentence; ``alpha``
            the length-penalty exponent [Wu16] (0 ranks by the plain sum of log-probabilities);
            ``length_norm`` the penalty's form (``"gnmt"`` [Wu16] or ``"power"`` |Y| ** alpha);
            ``beta`` the coverage-penalty weight [Wu16] (needs a model with attention; 0
            disables it; for multi-head models the penalty is taken on the mean over heads of
            the weights that ``step`` returns, the Transformer's last-layer cross-attention);
            ``stop`` ``"heuristic"`` or ``"exact"``, as above; ``kv_cache`` ``"static"`` sizes the
            decoder state's buffers for every step before the loop (see
            :class:`~attnkit.decoding.protocols.ReservesPositions`).
        prefix: tokens every hypothesis starts with after ``<s>`` (a model's prompt, e.g.
            Whisper's language and task tokens): fed to the decoder before the first chosen
            token, not scored, not counted in the length penalty or `max_len`, not part of the
            hypotheses' tokens and weights.

    Returns:
        Per sentence, its `n_best` hypotheses (fewer if fewer finished), best first by s(Y);
        each with tokens (no ``</s>``), alignment weights (To, Tk_b) with To = len(tokens) + 1,
        or per head (Nh, To, Tk_b) for multi-head models, or None; and the raw score (sum of
        log-probabilities, ``</s>`` included).

    Raises:
        ValueError: for beta > 0 with a model without attention.

    References:
        [Wu16] Sec. 7, Eq. 14.

    Differences from the paper:
        - The length |Y| in lp counts the ``</s>`` token: a hypothesis of n tokens that ends
          with ``</s>`` is divided by lp(n + 1), also when ``</s>`` was forced at `max_len`.
        - The coverage penalty is applied only when a hypothesis finishes (it is added to the
          normalised score then). Live hypotheses are ranked and pruned by their raw sum of
          log-probabilities, without lp or cp, and the stopping bounds leave cp out (valid as
          cp <= 0). cp sums, per real source position (padding excluded), the weights of every
          output step including the one that emitted ``</s>``, clamped to [1e-9, 1] inside
          the log.
        - [Wu16] also prunes tokens and hypotheses that score more than a margin below the best
          (their "beamsize", in log-probability); here only the k best are kept.
    """
    beam_size, n_best, alpha, beta, stop = options.beam_size, options.n_best, options.alpha, options.beta, options.stop
    if beta > 0 and not getattr(model, "uses_attention", True):
        raise ValueError("the coverage penalty needs attention weights; this model has none (use beta=0)")
    batch, k, device = src.shape[0], beam_size, src.device
    reserve = len(prefix) + max_len + 1 if options.kv_cache == "static" else None
    beams = BeamStates(model, cast(StepDecoder, model).encode(src, src_lengths), batch, k, device, reserve=reserve)
    sentences = list(range(batch))  # sentence id of each active sentence
    scores = torch.full((batch, k), -math.inf, dtype=torch.float64, device=device)
    scores[:, 0] = 0.0  # all beams start identical: let only the first one expand
    prev = torch.full((batch * k,), Vocab.bos_id, dtype=torch.long, device=device)
    same_rows = torch.arange(batch * k, device=device)
    for position, token in enumerate(prefix):  # the prompt: every row reads it, its outputs are not used
        beams.step(prev, position)
        beams.advance(same_rows)
        prev = torch.full_like(prev, token)
    finished: list[list[tuple[float, float, int, int]]] = [[] for _ in range(batch)]  # (norm, raw, t, row)
    top_done: list[list[float]] = [[] for _ in range(batch)]  # min-heaps: each sentence's n_best best norms
    trail = _Trail()
    lengths = src_lengths.tolist()
    lp_form = options.length_norm
    bound = length_penalty(max_len + 1, alpha, lp_form)
    ranks = torch.arange(2 * k, device=device)
    for t in range(max_len + 1):
        logprobs, w = beams.step(prev, len(prefix) + t)  # (N, V), (N, [Nh,] Tk) | None
        if t == max_len:
            logprobs = force_eos(logprobs)
        trail.weights.append(w)
        active = len(sentences)
        width = min(2 * k, logprobs.shape[-1])
        row_best, row_tokens = logprobs.topk(width, dim=-1)  # (N, m): each row's m best tokens
        cand = (scores.view(-1, 1) + row_best.double()).view(active, k * width)
        top_scores, top_pos = cand.topk(min(2 * k, k * width), dim=1)  # (A, 2k), best first
        top_tokens = row_tokens.view(active, k * width).gather(1, top_pos)
        top_rows = top_pos // width + torch.arange(active, device=device)[:, None] * k  # rows of step t
        valid = top_scores > -math.inf
        is_eos = top_tokens == Vocab.eos_id
        n = top_scores.shape[1]
        ending = is_eos & valid & (ranks[:n] < k)  # a </s> among the top k ends its hypothesis
        going = ~is_eos & valid
        keep = going & (going.cumsum(1) <= k)  # the best k that do not end
        order = torch.where(keep, ranks[:n], n).sort(dim=1).values[:, :k]  # (A, k) kept ranks first
        if order.shape[1] < k:  # fewer than k candidates in all (tiny vocabularies)
            order = torch.cat([order, order.new_full((active, k - order.shape[1]), n)], 1)
        has = order < n
        pick = order.clamp(max=n - 1)
        new_scores = torch.where(has, top_scores.gather(1, pick), -math.inf)
        new_tokens = torch.where(has, top_tokens.gather(1, pick), Vocab.pad_id)
        own = torch.arange(active * k, device=device).view(active, k)
        origin = torch.where(has, top_rows.gather(1, pick), own)  # (A, k) rows of step t
        if bool(ending.any()):  # all of this step's finishing hypotheses at once
            where = ending.nonzero(as_tuple=True)  # (sentence slot, rank), row-major
            ends = [sentences[a] for a in where[0].tolist()]
            raw, rows_t = top_scores[where].tolist(), top_rows[where].tolist()
            lp = length_penalty(t + 1, alpha, lp_form)  # t tokens and </s>
            norms = [score / lp for score in raw]
            if beta:  # cp <= 0: the early-stopping bounds still hold
                paths = [trail.trace(t, row)[1] for row in rows_t]
                received = torch.stack(trail.gather_weights(paths))  # (n, [Nh,] t + 1, Tk)
                if received.dim() == 4:  # per head: the penalty takes their mean (see the docstring)
                    received = select_heads(received, "mean")  # (n, t + 1, Tk)
                cps = _coverage_penalties(received, [lengths[b] for b in ends], beta)
                norms = [norm + cp for norm, cp in zip(norms, cps)]
            for norm, score, row, b in zip(norms, raw, rows_t, ends):
                finished[b].append((norm, score, t, row))
                heap = top_done[b]
                if len(heap) < n_best:
                    heapq.heappush(heap, norm)
                elif norm > heap[0]:
                    heapq.heapreplace(heap, norm)
        live_lp = bound if stop == "exact" else length_penalty(t + (1 if stop == "current" else 2), alpha, lp_form)
        live_best = (new_scores[:, 0] / live_lp).tolist()
        # a sentence is done when its n_best-th best finished hypothesis (heap[0]) beats the live bound
        done = [len(top_done[b]) == n_best and top_done[b][0] >= live for b, live in zip(sentences, live_best)]
        if all(done):
            break
        rows = origin.view(-1)
        tokens = new_tokens.view(-1)
        n_done, stay_t = sum(done), None
        if 0 < n_done < 4 * n_done < len(done):  # too few to be worth copying the memory: freeze them
            new_scores[torch.tensor(done, device=device)] = -math.inf
        elif n_done:  # drop the finished sentences' rows
            stay = [a for a, d in enumerate(done) if not d]
            sentences = [sentences[a] for a in stay]
            stay_t = torch.tensor(stay, device=device)
            kept_rows = (stay_t[:, None] * k + torch.arange(k, device=device)).view(-1)
            rows, tokens, new_scores = rows[kept_rows], tokens[kept_rows], new_scores[stay_t]
        trail.tokens.append(tokens.tolist())
        trail.parents.append(rows.tolist())
        beams.advance(rows, stay_t)
        prev, scores = tokens, new_scores
    return _results(finished, trail, n_best, lengths)


def _results(finished, trail: _Trail, n_best: int, lengths: list[int]) -> list[list[Hypothesis]]:
    """The n_best finished hypotheses of each sentence, traced back to their tokens and weights."""
    ranked = [sorted(items, key=lambda item: -item[0])[:n_best] for items in finished]
    traces = [[trail.trace(t, row) for _, _, t, row in items] for items in ranked]
    has_weights = bool(trail.weights) and trail.weights[0] is not None
    flat = trail.gather_weights([path for sent in traces for _, path in sent]) if has_weights else []
    out, i = [], 0
    for items, sent, n in zip(ranked, traces, lengths):
        hyps = []
        for (_, raw, _, _), (tokens, _) in zip(items, sent):
            hyps.append(Hypothesis(tokens, flat[i][..., :n].cpu() if has_weights else None, raw))
            i += 1
        out.append(hyps)
    return out
