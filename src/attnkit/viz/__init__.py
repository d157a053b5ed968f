"""Layer 7 (docs/architecture.md): pictures of attention. Works on arrays, never on models."""

from .alignment import display_token, plot_alignment, save_figure
from .document import plot_document_attention
from .grid import plot_attention_grid
from .prediction import plot_prediction

__all__ = ["plot_alignment", "plot_attention_grid", "plot_document_attention", "save_figure", "display_token",
           "plot_prediction"]
