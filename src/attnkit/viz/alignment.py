"""Alignment heatmaps: where each output token looked in the source, as in [Bahdanau15] Fig. 3.

Functions take arrays and token labels and return a :class:`matplotlib.figure.Figure`; they never
import models or call ``plt.show()``. They use the object-oriented API (no pyplot), so they work
with any backend.

References:
    [Bahdanau15] D. Bahdanau, K. Cho, Y. Bengio. Neural Machine Translation by Jointly Learning
    to Align and Translate. ICLR 2015. arXiv:1409.0473.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.text import Text

from ..heads import HeadChoice, select_heads
from ..io import atomic_path

__all__ = ["plot_alignment", "save_figure", "figure_png", "display_token", "has_cjk", "CJK_FONT_PACKAGE"]

log = logging.getLogger(__name__)

CJK_FONT_PACKAGE = "fonts-noto-cjk"  # the Debian package of Noto Sans CJK

_CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "IPAGothic",
    "AR PL UMing CN",
)
# Han, kana, Hangul, CJK punctuation and compatibility forms, full-width forms, Han extension B on
_CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]"
)


def figure_of(ax: Axes) -> Figure:
    """The figure `ax` is drawn on; for axes in a subfigure, the (root) figure that holds it."""
    fig = ax.figure
    return fig.figure if isinstance(fig, SubFigure) else fig


def display_token(token: str) -> str:
    """A token as shown on an axis: a space becomes '␣', other whitespace its escape."""
    if token == " ":
        return "␣"
    return token if token.isprintable() else token.encode("unicode_escape").decode()


def has_cjk(text: str) -> bool:
    """Whether `text` holds Chinese, Japanese or Korean characters (DejaVu Sans draws none)."""
    return _CJK.search(text) is not None


def _cjk_fonts() -> list[str]:
    """The CJK-capable font families matplotlib finds installed, known good ones first."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    known = [f for f in _CJK_FONTS if f in installed]
    return known + sorted(f for f in installed if "CJK" in f and f not in known)


def _font_family() -> list[str]:
    """DejaVu Sans, then the CJK fonts installed (matplotlib falls back glyph by glyph)."""
    return ["DejaVu Sans", *_cjk_fonts()]


def _fit_fonts(fig: Figure) -> None:
    """Give every text of `fig` with CJK characters a CJK-capable font, or warn (one line) that
    none is installed and name the Debian package that has one."""
    cjk = [t for t in fig.findobj(Text) if isinstance(t, Text) and has_cjk(t.get_text())]
    if not cjk:
        return
    fonts = _cjk_fonts()
    if not fonts:
        log.warning(
            "this picture has Chinese/Japanese/Korean text but no CJK font is installed, so it shows empty boxes; "
            "install one: apt install %s",
            CJK_FONT_PACKAGE,
        )
        return
    for text in cjk:
        text.set_fontfamily(["DejaVu Sans", *fonts])


def plot_alignment(
    weights: np.ndarray | Sequence[Sequence[float]],
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    *,
    heads: HeadChoice = "mean",
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Heatmap of alignment weights: output tokens down the rows, source tokens across.

    Args:
        weights: alignment weights, (To, Tk), or per head (Nh, To, Tk) (a multi-head model's
            hypothesis); probabilities in [0, 1] (a torch tensor works too).
        src_tokens: the Tk source tokens, labels of the x axis.
        tgt_tokens: the To output tokens, labels of the y axis.
        heads: for per-head weights, the map to draw: ``"mean"`` over the heads (the default)
            or a head index in [0, Nh) (see :func:`attnkit.heads.select_heads`); (To, Tk)
            weights are drawn as they are. :func:`plot_attention_grid` draws every head.
        ax: axes to draw into; a new figure is made when None.
        title: optional title.

    Returns:
        The figure holding the plot.

    Raises:
        ValueError: if the weights are not 2-D or 3-D, do not match the token counts, or
            `heads` names no head of them.
    """
    w = np.asarray(weights, dtype=float)
    if w.ndim not in (2, 3):
        raise ValueError(f"weights of shape {w.shape} are not (To, Tk) or per head (Nh, To, Tk)")
    w = select_heads(w, heads)
    if w.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(
            f"weights of shape {w.shape} do not match {len(tgt_tokens)} output and "
            f"{len(src_tokens)} source tokens; expected (To, Tk)"
        )
    if ax is None:
        fig = Figure(
            figsize=(max(4.0, 0.32 * len(src_tokens) + 1.8), max(3.0, 0.32 * len(tgt_tokens) + 1.4)),
            layout="constrained",
        )
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax)
    image = ax.imshow(w, cmap="gray_r", vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest")
    family = _font_family()
    ax.set_xticks(range(len(src_tokens)), [display_token(t) for t in src_tokens], fontfamily=family)
    ax.set_yticks(range(len(tgt_tokens)), [display_token(t) for t in tgt_tokens], fontfamily=family)
    ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False)
    for tick, token in zip(ax.xaxis.get_major_ticks(), src_tokens):
        if len(token) > 2:  # multi-character tokens such as <de_DE> stand upright
            tick.label2.set_rotation(90)
    ax.set_xlabel("source", fontfamily=family)
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontfamily=family, fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="alignment weight")
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write `fig` to `path` (format from the suffix, e.g. .png) atomically; returns the path.

    Text with CJK characters gets a CJK-capable font when one is installed; when none is, a
    one-line warning names the Debian package (``fonts-noto-cjk``) to install.
    """
    path = Path(path)
    _fit_fonts(fig)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path


def figure_png(fig: Figure, *, dpi: int = 100) -> bytes:
    """`fig` as PNG bytes, its fonts chosen as :func:`save_figure` chooses them."""
    _fit_fonts(fig)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        fig.savefig(buffer, dpi=dpi, format="png")
    return buffer.getvalue()
