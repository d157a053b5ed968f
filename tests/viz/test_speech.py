"""Speech pictures: time in seconds on the x axis, one row per output token, shape errors."""

import numpy as np
import pytest

from attnkit.viz import plot_frame_attention, plot_spectrogram_alignment


def test_alignment_over_the_spectrogram_has_time_in_seconds():
    frames = np.random.default_rng(0).normal(size=(230, 40))
    weights = np.random.default_rng(1).dirichlet(np.ones(28), size=11)  # 28 positions of 80 ms
    fig = plot_spectrogram_alignment(frames, 0.01, weights, 0.08, list("1979-05-03") + ["</s>"], title="t")
    spec, align = fig.axes[0], fig.axes[1]
    assert align.get_xlabel() == "time (s)"
    assert align.get_xlim() == pytest.approx((0, 2.3))  # 230 frames of 10 ms
    assert [t.get_text() for t in align.get_yticklabels()][:4] == ["1", "9", "7", "9"]
    assert spec.images[0].get_extent()[1] == pytest.approx(2.3)
    with pytest.raises(ValueError, match="To=3"):
        plot_spectrogram_alignment(frames, 0.01, weights, 0.08, ["a", "b", "c"])


def test_frame_attention_picture_panels():
    frames = np.zeros((100, 20))
    pool = np.full(24, 1 / 24)
    fig = plot_frame_attention(frames, 0.01, pool, 0.04, np.full((24, 24), 1 / 24))
    assert len(fig.axes) == 4  # spectrogram, pooling, self-attention, its colour bar
    assert fig.axes[2].get_xlabel() == "time (s)"
    assert len(plot_frame_attention(frames, 0.01, pool, 0.04).axes) == 2
    with pytest.raises(ValueError, match=r"\(T', T'\)"):
        plot_frame_attention(frames, 0.01, pool, 0.04, np.zeros((3, 3)))
