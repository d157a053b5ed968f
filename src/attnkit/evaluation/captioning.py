"""Caption metrics: corpus BLEU-1..4 and exact match (sacrebleu), and where attention falls
relative to an item's box (localisation).

BLEU-n here is sacrebleu's corpus BLEU with n-grams up to n, uniform weights, its exponential
smoothing and its brevity penalty, on captions that are already tokenised (``tokenize="none"``:
tokens are split at spaces only, so "t-shirt" stays one word) [Papineni02], [Post18]; BLEU-1..4
is how [Xu15] Table 1 reports captions.

Localisation: for an attention map over an (h, w) grid of cells covering an H x W picture
(cell (r, c) covers rows [r H / h, (r + 1) H / h) and the columns likewise), the *peak* is the
cell of the largest weight (the first on ties); it falls inside a box when the cell's centre
does. The *mass* inside the box spreads each cell's weight evenly over its pixels and sums what
lands inside. Chance: a peak drawn uniformly over the cells falls inside with probability
"share of cell centres inside the box"; uniform attention puts "box area / picture area" inside.

References:
    [Papineni02] K. Papineni, S. Roukos, T. Ward, W.-J. Zhu. BLEU: a Method for Automatic
        Evaluation of Machine Translation. ACL 2002. doi:10.3115/1073083.1073135.
    [Post18] M. Post. A Call for Clarity in Reporting BLEU Scores. WMT 2018. arXiv:1804.08771.
    [Xu15] K. Xu et al. Show, Attend and Tell. ICML 2015. arXiv:1502.03044.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sacrebleu.metrics import BLEU

from .metrics import exact_match

__all__ = ["caption_scores", "attention_in_box", "box_chance"]


def caption_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float | str]:
    """Corpus BLEU-1..4 (0-100) and exact match (in [0, 1]) of tokenised captions.

    Args:
        hypotheses: generated captions, tokens separated by spaces.
        references: one reference caption each.

    Returns:
        ``bleu_1`` .. ``bleu_4``, ``exact_match``, and ``bleu_signature`` (sacrebleu's, of BLEU-4).

    Raises:
        ValueError: if the lists differ in length or are empty.
    """
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"need equally many hypotheses and references (> 0), got {len(hypotheses)} and {len(references)}"
        )
    out: dict[str, float | str] = {}
    for n in range(1, 5):
        metric = BLEU(max_ngram_order=n, tokenize="none")
        out[f"bleu_{n}"] = float(metric.corpus_score(list(hypotheses), [list(references)]).score)
    out["exact_match"] = exact_match(hypotheses, references)
    out["bleu_signature"] = str(metric.get_signature())
    return out


def _cells(grid: tuple[int, int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float, float]:
    h, w = grid
    height, width = size
    return np.arange(h) * height / h, np.arange(w) * width / w, height / h, width / w


def attention_in_box(weights, box: Sequence[int], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Whether each map's peak falls inside `box`, and each map's mass inside it.

    Args:
        weights: T attention maps, (T, h, w), non-negative (each usually sums to 1).
        box: ``(x0, y0, x1, y1)`` in picture pixels, end-exclusive.
        size: the picture's (H, W) in pixels.

    Returns:
        ``(inside, mass)``: bool (T,), and float (T,) in [0, sum of the map].

    Raises:
        ValueError: if `weights` is not (T, h, w).
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim != 3:
        raise ValueError(f"weights must be (T, h, w) maps, got shape {w.shape}")
    x0, y0, x1, y1 = box
    rows, cols, ch, cw = _cells(w.shape[1:], size)
    peak = w.reshape(len(w), -1).argmax(axis=1)
    r, c = np.divmod(peak, w.shape[2])
    cy, cx = rows[r] + ch / 2, cols[c] + cw / 2
    inside = (x0 <= cx) & (cx < x1) & (y0 <= cy) & (cy < y1)
    over_y = np.clip(np.minimum(rows + ch, y1) - np.maximum(rows, y0), 0, None) / ch  # (h,) share of each row
    over_x = np.clip(np.minimum(cols + cw, x1) - np.maximum(cols, x0), 0, None) / cw  # (w,)
    mass = (w * over_y[:, None] * over_x[None, :]).sum(axis=(1, 2))
    return inside, mass


def box_chance(box: Sequence[int], grid: tuple[int, int], size: tuple[int, int]) -> tuple[float, float]:
    """Chance levels for one box: (share of the grid's cell centres inside it, its share of the
    picture's area), both in [0, 1] (see the module docstring)."""
    x0, y0, x1, y1 = box
    rows, cols, ch, cw = _cells(grid, size)
    cy, cx = rows + ch / 2, cols + cw / 2
    centres = ((y0 <= cy) & (cy < y1)).sum() * ((x0 <= cx) & (cx < x1)).sum()
    return float(centres / (grid[0] * grid[1])), float((x1 - x0) * (y1 - y0) / (size[0] * size[1]))
