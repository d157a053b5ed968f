"""Layer 7 (docs/architecture.md): pictures of attention. Works on arrays, never on models."""

from .alignment import display_token, figure_png, plot_alignment, save_figure
from .caption import plot_caption_attention
from .document import plot_document_attention
from .grid import plot_attention_grid
from .image import (
    plot_channel_weights,
    plot_confusion,
    plot_image_attention,
    plot_image_attention_grid,
    plot_spatial_transformer,
    sampling_outline,
)
from .links import plot_links
from .prediction import plot_prediction, prediction_png
from .speech import plot_frame_attention, plot_spectrogram_alignment
from .views import VIEWS, Budget, View, prediction_json, view_of

__all__ = [
    "plot_alignment",
    "plot_attention_grid",
    "plot_document_attention",
    "save_figure",
    "display_token",
    "plot_prediction",
    "prediction_png",
    "figure_png",
    "plot_image_attention",
    "plot_image_attention_grid",
    "plot_channel_weights",
    "plot_spatial_transformer",
    "plot_confusion",
    "sampling_outline",
    "plot_caption_attention",
    "plot_links",
    "plot_frame_attention",
    "plot_spectrogram_alignment",
    "View",
    "VIEWS",
    "Budget",
    "view_of",
    "prediction_json",
]
