"""Batched beam search with the GNMT length penalty, n-best lists and per-hypothesis attention.

Every sentence of the batch keeps `beam_size` live hypotheses, all run as one batch of
B * beam_size rows through the model's ``step``; decoder states and KV caches are reordered
with the beams at every step. The attention weights of each hypothesis travel with it, so the
n-best list comes back with one alignment per hypothesis.

References:
    [Wu16] Y. Wu, M. Schuster, Z. Chen, Q. V. Le, M. Norouzi et al. Google's Neural Machine
    Translation System: Bridging the Gap between Human and Machine Translation. 2016.
    arXiv:1609.08144. Sec. 7, Eq. 14 (length and coverage penalties).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..data import Vocab
from ..models.state import select_rows
from .greedy import Hypothesis, force_eos

__all__ = ["beam_search", "length_penalty", "coverage_penalty", "select_rows"]


def coverage_penalty(weights: Tensor, beta: float, floor: float = 1e-9) -> float:
    """GNMT coverage penalty cp = beta * sum_j log(min(sum_i alpha_ij, 1)) [Wu16] Eq. 14.

    Args:
        weights: a hypothesis' alignment weights (To, Tk), one row per output step.
        beta: penalty weight >= 0; 0 gives 0.
        floor: lower bound inside the log, so a source position that sparse or hard attention
            never looked at costs beta * log(floor) instead of -inf.

    Returns:
        The penalty, <= 0 (added to the length-normalised log-probability).
    """
    if beta == 0:
        return 0.0
    received = weights.sum(dim=0).clamp(min=floor, max=1.0)  # (Tk,)
    return beta * float(received.log().sum())


def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha [Wu16] Eq. 14; alpha = 0 gives 1."""
    return ((5.0 + length) / 6.0) ** alpha


class _Finished:
    """The finished hypotheses of one sentence."""

    def __init__(self) -> None:
        self.items: list[tuple[float, float, list[int], Tensor | None]] = []  # (norm, raw, tokens, weights)

    def best(self) -> float:
        return max((item[0] for item in self.items), default=-math.inf)


@torch.no_grad()
def beam_search(model: nn.Module, src: Tensor, src_lengths: Tensor, max_len: int, *, beam_size: int = 5,
                n_best: int = 1, alpha: float = 0.6, beta: float = 0.0) -> list[list[Hypothesis]]:
    """Beam search for a batch of source sentences.

    A hypothesis ends when it emits ``</s>``; at `max_len` output tokens ``</s>`` is forced. A
    sentence stops early once it has `n_best` finished hypotheses and none of its live ones
    can still beat the best of them (scores only fall as tokens are added, and the length
    penalty is at most lp(max_len + 1)).

    Args:
        model: a model with ``encode``, ``init_state`` and ``step`` (RNN or Transformer).
        src: source ids, (B, Tk), padded.
        src_lengths: (B,).
        max_len: maximum output tokens before ``</s>``.
        beam_size: live hypotheses per sentence, k >= 1.
        n_best: hypotheses returned per sentence, 1 <= n_best <= k.
        alpha: length-penalty exponent [Wu16]; 0 ranks by the plain sum of log-probabilities.
        beta: coverage-penalty weight [Wu16] (needs a model with attention); 0 disables it.

    Returns:
        Per sentence, its `n_best` hypotheses, best first, ranked by score / lp(length) + cp; each
        with tokens (no ``</s>``), alignment weights (len + 1, Tk_b) or None, and the raw score
        (sum of log-probabilities, ``</s>`` included).

    Raises:
        ValueError: if beam_size < 1, n_best is not in [1, beam_size], alpha < 0 or beta < 0, or
            beta > 0 for a model without attention.
    """
    if beam_size < 1 or not 1 <= n_best <= beam_size or alpha < 0 or beta < 0:
        raise ValueError(f"need beam_size >= 1, 1 <= n_best <= beam_size, alpha >= 0 and beta >= 0; got "
                         f"beam_size={beam_size}, n_best={n_best}, alpha={alpha}, beta={beta}")
    if beta > 0 and not getattr(model, "uses_attention", True):
        raise ValueError("the coverage penalty needs attention weights; this model has none (use beta=0)")
    batch, k = src.shape[0], beam_size
    memory = select_rows(model.encode(src, src_lengths), torch.arange(batch).repeat_interleave(k))
    state = model.init_state(memory)
    scores = torch.full((batch, k), -math.inf, dtype=torch.float64)
    scores[:, 0] = 0.0  # all beams start identical: let only the first one expand
    prev = torch.full((batch * k,), Vocab.bos_id, dtype=torch.long)
    tokens = torch.zeros(batch * k, 0, dtype=torch.long)
    weights: Tensor | None = None
    finished = [_Finished() for _ in range(batch)]
    done = [False] * batch
    bound = length_penalty(max_len + 1, alpha)
    for t in range(max_len + 1):
        logprobs, state, w = model.step(prev, state, memory)  # (B*k, V), ..., (B*k, Tk) | None
        if t == max_len:
            logprobs = force_eos(logprobs)
        history = None if w is None else torch.cat(
            [torch.zeros(batch * k, 0, w.shape[-1]) if weights is None else weights, w[:, None].cpu()], 1)
        vocab = logprobs.shape[-1]
        cand = (scores.view(-1, 1) + logprobs.double().cpu()).view(batch, k * vocab)
        top_scores, top_ids = cand.topk(min(2 * k, k * vocab), dim=1)  # (B, 2k)
        origin = torch.arange(batch * k).view(batch, k).clone()  # default: keep rows in place
        new_tok = torch.full((batch, k), Vocab.pad_id, dtype=torch.long)
        new_scores = torch.full((batch, k), -math.inf, dtype=torch.float64)
        for b in range(batch):
            if done[b]:
                continue
            alive = _advance(b, k, vocab, top_scores[b], top_ids[b], tokens, history, finished[b],
                             origin, new_tok, new_scores, t, alpha, beta, int(src_lengths[b]))
            live_best = new_scores[b, 0].item() if alive else -math.inf
            done[b] = len(finished[b].items) >= n_best and finished[b].best() >= live_best / bound
        if all(done):
            break
        rows = origin.view(-1)
        state, prev, scores = select_rows(state, rows), new_tok.view(-1), new_scores
        tokens = torch.cat([tokens[rows], new_tok.view(-1, 1)], 1)
        weights = None if history is None else history[rows]
    return [_results(finished[b], n_best, int(src_lengths[b])) for b in range(batch)]


def _advance(b, k, vocab, top_scores, top_ids, tokens, history, finished, origin, new_tok, new_scores,
             t, alpha, beta, src_len) -> int:
    """Finish the ``</s>`` candidates among sentence b's top k, keep its best k others alive."""
    alive = 0
    for rank, (score, idx) in enumerate(zip(top_scores.tolist(), top_ids.tolist())):
        if score == -math.inf or alive == k:
            break
        row, token = b * k + idx // vocab, idx % vocab
        if token == Vocab.eos_id:
            if rank < k:
                w = None if history is None else history[row]
                cp = coverage_penalty(w[:, :src_len], beta) if beta else 0.0  # <= 0: the bound still holds
                finished.items.append((score / length_penalty(t + 1, alpha) + cp, score, tokens[row].tolist(), w))
            continue
        origin[b, alive], new_tok[b, alive], new_scores[b, alive] = row, token, score
        alive += 1
    return alive


def _results(finished: _Finished, n_best: int, src_len: int) -> list[Hypothesis]:
    ranked = sorted(finished.items, key=lambda item: -item[0])[:n_best]
    return [Hypothesis(toks, None if w is None else w[:, :src_len], raw) for _, raw, toks, w in ranked]
