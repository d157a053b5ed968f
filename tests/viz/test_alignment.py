"""Heatmaps: labelled axes, probabilities fixed to [0, 1], shape checks, atomic PNG writes."""

import numpy as np
import pytest

from attnkit.viz import display_token, plot_alignment, save_figure


def test_heatmap_labels_axes_with_tokens_and_fixes_the_colour_scale(tmp_path):
    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    fig = plot_alignment(weights, ["<de_DE>", "3", " "], ["1", "</s>"], title="t")
    ax = fig.axes[0]
    image = ax.images[0]
    assert image.get_clim() == (0.0, 1.0)
    np.testing.assert_array_equal(image.get_array(), weights)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "</s>"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["<de_DE>", "3", "␣"]
    path = save_figure(fig, tmp_path / "a.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="do not match 2 output and 3 source tokens"):
        plot_alignment(np.zeros((3, 3)), ["a", "b", "c"], ["x", "y"])


def test_per_head_weights_draw_the_mean_by_default_or_the_head_named():
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(3), size=(2, 4))  # (Nh=2, To=4, Tk=3)
    src, out = ["a", "b", "c"], ["w", "x", "y", "</s>"]
    drawn = plot_alignment(weights, src, out).axes[0].images[0].get_array()
    np.testing.assert_allclose(drawn, (weights[0] + weights[1]) / 2)
    for h in (0, 1):
        np.testing.assert_array_equal(
            plot_alignment(weights, src, out, heads=h).axes[0].images[0].get_array(), weights[h]
        )
    assert not np.allclose(weights[1], (weights[0] + weights[1]) / 2)
    with pytest.raises(ValueError, match="head 2 is out of range: these weights have 2 heads"):
        plot_alignment(weights, src, out, heads=2)
    with pytest.raises(ValueError, match=r"not \(To, Tk\) or per head \(Nh, To, Tk\)"):
        plot_alignment(weights[None], src, out)


def test_display_token():
    assert display_token(" ") == "␣"
    assert display_token("\t") == "\\t"
    assert display_token("é") == "é"


def test_grid_has_one_panel_per_layer_and_head(tmp_path):
    from attnkit.viz import plot_attention_grid

    weights = np.random.default_rng(0).dirichlet(np.ones(4), size=(2, 3, 5))  # (L=2, Nh=3, Tq=5, Tk=4)
    fig = plot_attention_grid(weights, list("abcd"), list("vwxyz"), title="cross-attention")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 6
    assert panels[4].get_title() == "layer 1, head 1"  # 0-based: weights[1, 1]
    np.testing.assert_array_equal(panels[4].images[0].get_array(), weights[1, 1])
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in panels)
    save_figure(fig, tmp_path / "g.png")
    with pytest.raises(ValueError, match=r"\(L, Nh, Tq, Tk\)"):
        plot_attention_grid(weights[0], list("abcd"), list("vwxyz"))


def test_document_attention_shades_words_and_sentences(tmp_path):
    from matplotlib import colormaps

    from attnkit.viz import plot_document_attention

    sentences = [["in", "the", "beginning"], ["god", "created"]]
    word_weights = np.array([[0.1, 0.1, 0.8], [0.5, 0.5, 0.0]])
    fig = plot_document_attention(sentences, word_weights, [0.25, 0.75], title="Law (true: Law)")
    texts = {t.get_text(): t for t in fig.axes[0].texts}
    assert {"in", "the", "beginning", "god", "created", "0.25", "0.75"} <= set(texts)
    assert texts["beginning"].get_bbox_patch().get_facecolor() == colormaps["Reds"](0.8 * 0.9)
    assert texts["0.75"].get_bbox_patch().get_facecolor() == colormaps["Blues"](0.75)
    save_figure(fig, tmp_path / "doc.png")
    with pytest.raises(ValueError, match="do not cover 2 sentences"):
        plot_document_attention(sentences, word_weights[:, :2], [0.5, 0.5])
