"""Scenes with captions: layouts without overlap inside the canvas, captions that parse back to
the layout (checked against a reading order and relations computed here from the boxes), exact
pixels, determinism, and the grammar's errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from attnkit.data import scenes as S
from attnkit.errors import ConfigError

LABELS = np.arange(200) % 10


@pytest.fixture(scope="module")
def scenes():
    return S.make_scenes(400, LABELS, np.arange(200), seed=3)


def _lines_here(boxes):
    """Reference reading order: connected components of 'vertical extents overlap', top to
    bottom by their highest item, each left to right."""
    n, seen, groups = len(boxes), set(), []
    for start in range(n):
        if start in seen:
            continue
        group, todo = [], [start]
        seen.add(start)
        while todo:
            i = todo.pop()
            group.append(i)
            for j in range(n):
                if j not in seen and min(boxes[i][3], boxes[j][3]) > max(boxes[i][1], boxes[j][1]):
                    seen.add(j)
                    todo.append(j)
        groups.append(group)
    groups.sort(key=lambda g: min(boxes[i][1] for i in g))
    return [sorted(g, key=lambda i: boxes[i][0]) for g in groups]


def test_items_lie_inside_the_canvas_without_overlap(scenes):
    counts = set()
    for scene in scenes:
        counts.add(len(scene.items))
        for k, (x0, y0, x1, y1) in enumerate(it.box for it in scene.items):
            assert 0 <= x0 < x1 <= 84 and 0 <= y0 < y1 <= 84 and x1 - x0 == y1 - y0
            assert 20 <= x1 - x0 <= 36
            for a0, b0, a1, b1 in (it.box for it in scene.items[k + 1 :]):
                apart_x = max(x0, a0) - min(x1, a1)  # >= 2: at least 2 pixels of background between
                apart_y = max(y0, b0) - min(y1, b1)
                assert max(apart_x, apart_y) >= 2
    assert counts == {2, 3, 4}


def test_captions_parse_back_to_the_layout(scenes):
    for scene in scenes:
        boxes = [it.box for it in scene.items]
        lines = _lines_here(boxes)
        assert [i for line in lines for i in line] == list(range(len(boxes)))  # items come in reading order
        parsed = S.parse_caption(scene.caption)
        assert len(parsed) == len(lines)
        for k, (line, got) in enumerate(zip(lines, parsed)):
            assert [label for _, label in got.items] == [scene.items[i].label for i in line]
            for (size, _), i in zip(got.items, line):
                side = boxes[i][2] - boxes[i][0]
                assert size == ("small" if side <= 23 else "big" if side >= 33 else None)
            if len(line) == 2:
                gap = boxes[line[1]][0] - boxes[line[0]][2]
                assert got.hrel == ("next to" if gap < 6 else "left of")
            else:
                assert got.hrel is None
            if k == 0:
                assert got.vrel is None
            else:
                gap = min(boxes[i][1] for i in line) - max(boxes[i][3] for i in lines[k - 1])
                assert gap >= 2 and got.vrel == ("below" if gap < 10 else "far below")


def test_captions_vary():
    scenes = S.make_scenes(300, LABELS, np.arange(200), seed=5)
    words = {w for s in scenes for w in s.caption.split()}
    assert {"next", "left", "below", "far", "small", "big", "an", "and", "row"} <= words
    assert len({len(s.caption.split()) for s in scenes}) >= 8
    assert len({s.caption for s in scenes}) > 250


def test_the_same_seed_gives_the_same_scenes_and_sources_are_used_once_per_round():
    a = S.make_scenes(50, LABELS, np.arange(40, 140), seed=9)
    assert a == S.make_scenes(50, LABELS, np.arange(40, 140), seed=9)
    assert a != S.make_scenes(50, LABELS, np.arange(40, 140), seed=10)
    used = [it.source for s in a for it in s.items]
    assert all(40 <= u < 140 for u in used)
    assert len(set(used[:100])) == 100  # the first round of 100 sources has no repeat
    assert all(it.label == LABELS[it.source] for s in a for it in s.items)


def test_rendering_pastes_each_resized_source_into_its_box():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, size=(30, 28, 28), dtype=np.uint8)
    scene = S.make_scenes(1, np.arange(30) % 10, np.arange(30), seed=2)[0]
    pixels = S.render_scenes([scene], images, 84)[0]
    background = np.ones((84, 84), dtype=bool)
    for it in scene.items:
        x0, y0, x1, y1 = it.box
        want = np.asarray(Image.fromarray(images[it.source]).resize((x1 - x0, y1 - y0), Image.BILINEAR))
        np.testing.assert_array_equal(pixels[y0:y1, x0:x1], want)
        background[y0:y1, x0:x1] = False
    assert (pixels[background] == 0).all()


def test_scene_records_round_trip(scenes):
    for scene in scenes[:20]:
        assert S.scene_from_dict(S.scene_to_dict(scene)) == scene
    with pytest.raises(ValueError, match="malformed"):
        S.scene_from_dict({"items": [[1, 2]]})


def test_bad_captions_and_parameters_are_refused():
    with pytest.raises(ValueError, match="not a noun"):
        S.parse_caption("a hat")
    with pytest.raises(ValueError, match="wrong article"):
        S.parse_caption("a ankle boot")
    with pytest.raises(ValueError, match="does not end with"):
        S.parse_caption("a bag , a coat")
    assert S.parse_caption("a bag and a coat and an ankle boot in a row , a big dress far below") == [
        S.ParsedLine(((None, 8), (None, 4), (None, 9)), None, None),
        S.ParsedLine((("big", 3),), None, "far below"),
    ]
    with pytest.raises(ConfigError, match="n_min"):
        S.SceneParams(n_min=3, n_max=2).check()
    with pytest.raises(ConfigError, match="do not fit"):
        S.SceneParams(n_max=20, side_min=30, side_max=30).check()
    with pytest.raises(ConfigError, match="empty"):
        S.make_scenes(1, LABELS, np.arange(0), seed=0)


def test_item_mentions_find_the_nouns_in_any_sequence():
    tokens = "a big ankle boot left of a bag , , boot dress".split()
    assert S.item_mentions(tokens) == [(9, [2, 3]), (8, [7]), (3, [11])]
