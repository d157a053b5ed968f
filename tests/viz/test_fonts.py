"""CJK text in pictures: a CJK font when one is installed, a one-line warning naming the Debian
package when none is (issue 31, item 7); the font lookup is monkeypatched both ways."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib import font_manager

from attnkit.viz import alignment, figure_png, plot_alignment, save_figure
from attnkit.viz.alignment import CJK_FONT_PACKAGE, has_cjk


def _picture():
    return plot_alignment(np.full((2, 2), 0.5), ["我", "爱"], ["I", "love"], title="中文")


def test_cjk_characters_are_recognised():
    assert has_cjk("日本語") and has_cjk("かな") and has_cjk("한국어") and has_cjk("x。")
    assert not has_cjk("Ἐν ἀρχῇ ἦν ὁ λόγος") and not has_cjk("naïve café") and not has_cjk("")


def test_a_missing_cjk_font_gets_one_line_naming_the_debian_package(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(alignment, "_cjk_fonts", lambda: [])
    with caplog.at_level(logging.WARNING, logger="attnkit"):
        save_figure(_picture(), tmp_path / "a.png")
    (record,) = [r for r in caplog.records if CJK_FONT_PACKAGE in r.getMessage()]
    assert "\n" not in record.getMessage() and "apt install fonts-noto-cjk" in record.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="attnkit"):
        figure_png(plot_alignment(np.full((2, 2), 0.5), ["a", "b"], ["c", "d"]))  # no CJK text: no warning
    assert not caplog.records


def test_an_installed_cjk_font_is_given_to_every_cjk_text(monkeypatch, caplog):
    fake = "Noto Sans CJK JP"
    monkeypatch.setattr(alignment, "_cjk_fonts", lambda: [fake])
    monkeypatch.setattr(font_manager.fontManager, "findfont", lambda *a, **k: font_manager.findfont("DejaVu Sans"))
    fig = _picture()
    with caplog.at_level(logging.WARNING, logger="attnkit"):
        png = figure_png(fig)
    assert png.startswith(b"\x89PNG") and not caplog.records
    texts = [t for t in fig.findobj() if hasattr(t, "get_text") and has_cjk(t.get_text())]
    assert {t.get_text() for t in texts} >= {"我", "爱", "中文"}
    assert all(fake in t.get_fontfamily() for t in texts)


def test_the_lookup_finds_installed_cjk_families(monkeypatch):
    entries = [font_manager.FontEntry(name=n) for n in ("DejaVu Sans", "Noto Serif CJK TC", "WenQuanYi Zen Hei")]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", entries)
    assert alignment._cjk_fonts() == ["WenQuanYi Zen Hei", "Noto Serif CJK TC"]  # known ones first
