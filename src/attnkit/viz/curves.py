"""Line plots of results: BLEU against source length (one line per model, as in [Bahdanau15]
Fig. 2) and validation curves against training time.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from matplotlib.figure import Figure

__all__ = ["plot_bleu_by_length", "plot_training_curves"]


def plot_bleu_by_length(series: Mapping[str, Sequence], *, title: str | None = None) -> Figure:
    """BLEU per source-length bucket, one line per model.

    Args:
        series: model name -> its buckets, each with ``label`` (e.g. "11-20"), ``n`` and ``bleu``
            (None for an empty bucket), as :func:`attnkit.evaluation.bleu_by_length` returns.
            Every model must use the same buckets.
        title: optional title.

    Returns:
        The figure; buckets on the x axis with their sentence counts, BLEU (0-100) on the y axis.

    Raises:
        ValueError: if `series` is empty or the models' buckets differ.
    """
    if not series:
        raise ValueError("nothing to plot: give at least one model's buckets")
    first = list(series.values())[0]
    labels = [b.label for b in first]
    for name, buckets in series.items():
        if [b.label for b in buckets] != labels:
            raise ValueError(f"{name} has buckets {[b.label for b in buckets]}, expected {labels}")
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    xs = list(range(len(labels)))
    for name, buckets in series.items():
        points = [(x, b.bleu) for x, b in zip(xs, buckets) if b.bleu is not None]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xticks(xs, [f"{lab}\n({b.n})" for lab, b in zip(labels, first)])
    ax.set_xlabel("source sentence length in words (test sentences)")
    ax.set_ylabel("BLEU")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def plot_training_curves(
    histories: Mapping[str, Sequence[Mapping]],
    *,
    key: str = "dev_bleu",
    ylabel: str = "dev BLEU",
    title: str | None = None,
) -> Figure:
    """A validation metric against wall-clock training minutes, one line per model.

    Args:
        histories: model name -> its validation records (dicts with ``seconds`` and `key`), as the
            trainer writes them to ``metrics.jsonl``.
        key: the metric to plot.
        ylabel: its axis label.
        title: optional title.

    Raises:
        ValueError: if `histories` is empty.
    """
    if not histories:
        raise ValueError("nothing to plot: give at least one model's history")
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.subplots()
    for name, records in histories.items():
        points = [(r["seconds"] / 60, r[key]) for r in records if key in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=name)
    ax.set_xlabel("training time (minutes, validation included)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig
