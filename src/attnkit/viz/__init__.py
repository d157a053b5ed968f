"""Layer 6: pictures of attention. Works on arrays, never on models."""

from .alignment import display_token, plot_alignment, save_figure

__all__ = ["plot_alignment", "save_figure", "display_token"]
