"""One picture for any task's prediction: the attention it carries, drawn by the view of its kind
(:data:`attnkit.viz.views.VIEWS`): an alignment heatmap for text-to-text, the shaded document of
[Yang16] Fig. 5, overlays on an image, one overlay per caption word, a node's neighbourhood, a
recording's spectrogram with its attention. A new kind of prediction registers its view; the
choice is by the prediction's ``kind``, never by a task's name or a prediction's fields.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from ..heads import HeadChoice
from .alignment import figure_png
from .views import view_of

__all__ = ["plot_prediction", "prediction_png"]


def plot_prediction(prediction: Any, *, title: str | None = None, heads: HeadChoice = "mean") -> Figure:
    """The attention picture of one prediction.

    Args:
        prediction: a prediction from a task's ``predict`` or ``evaluate`` (with a ``kind``).
        title: the figure's title.
        heads: for multi-head weights (Nh, To, Tk): ``"mean"`` or a head index
            (:func:`attnkit.heads.select_heads`); named in the title.

    Raises:
        ValueError: if the prediction carries no attention that can be drawn, or its kind has no
            registered view.
    """
    return view_of(prediction).plot(prediction, title, heads)


def prediction_png(prediction: Any, *, title: str | None = None, heads: HeadChoice = "mean", dpi: int = 100) -> bytes:
    """:func:`plot_prediction`'s picture as PNG bytes (TensorBoard, notebooks).

    Raises:
        ValueError: as :func:`plot_prediction`.
    """
    return figure_png(plot_prediction(prediction, title=title, heads=heads), dpi=dpi)
