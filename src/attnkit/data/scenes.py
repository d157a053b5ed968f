"""Scenes with captions: 2-4 real Fashion-MNIST items placed without overlap on one canvas, and a
caption that names them in reading order with their relations, for image captioning with visual
attention in the manner of [Xu15].

No real image-caption data set can be installed from a package here, so the scenes are built
from real images (:mod:`attnkit.data.fashion_mnist`) and the captions follow from the layout:
every word of a caption can be checked against the picture, and every item's box is kept, so the
attention of a captioner can be scored against where the item really is.

Layout. Each scene draws its number of items uniformly from [n_min, n_max] and then places them
one at a time: a square side uniform in [side_min, side_max] pixels, then up to 64 uniform
positions wholly inside the canvas until one is *clear* against every item placed so far. Two
items are clear when they are

- on one line: their vertical extents overlap by at least half of the smaller side, and they are
  at least ``gap`` pixels apart horizontally; or
- on different lines: at least ``gap`` pixels apart vertically (one wholly above the other).

(no other arrangement is accepted, so items never overlap and "left of" / "below" are never
borderline). When an item finds no position, or the lines that result are not cleanly stacked
(every item of a line ends above every item of the next line starts), the boxes are drawn
again (with the same number of items). Items are resized from 28 x 28 to their side by one
bilinear resampling (Pillow) and pasted into their box; the background is 0.

Reading order: lines from top to bottom (the line relation is the transitive closure of "on one
line"), items of a line from left to right.

Caption grammar (tokens are separated by single spaces; ``,`` is a token)::

    caption := line_1 ( " , " line_k " " vrel )*           one clause per line, k = 2, 3, ...
    line    := item                                         one item
             | item " " hrel " " item                       two items
             | item ( " and " item )+ " in a row"           three or more items
    hrel    := "next to"     horizontal gap < NEAR_GAP pixels
             | "left of"     otherwise
    vrel    := "below"       vertical gap to the line above < FAR_GAP pixels
             | "far below"   otherwise
    item    := article [ size ] noun
    article := "an" before a word starting with a vowel ("an ankle boot"), else "a"
    size    := "small"       side <= SMALL_MAX pixels
             | "big"         side >= BIG_MIN pixels            (no word in between)
    noun    := t-shirt | trouser | pullover | dress | coat | sandal | shirt | sneaker | bag
             | ankle boot                                   (the ten classes, NOUNS)

e.g. "a small sandal left of a bag , a big trouser far below" or "a coat and a shirt and an
ankle boot in a row , a dress below". The caption is a function of the layout (no random
wording), so exact match is a fair metric, yet captions vary in length (3 to about 20 tokens),
structure and vocabulary with the number of items, their lines, gaps and sizes.
:func:`parse_caption` reads a caption back into that structure.

Every random draw comes from one ``numpy.random.Generator(PCG64(seed))``; a scene is stored as
its items (class, source image index, box), from which :func:`render_scenes` redraws the exact
pixels.

References:
    [Xu15] K. Xu, J. Ba, R. Kiros, K. Cho, A. Courville, R. Salakhutdinov, R. Zemel, Y. Bengio.
    Show, Attend and Tell: Neural Image Caption Generation with Visual Attention. ICML 2015.
    arXiv:1502.03044.
    [Xiao17] H. Xiao, K. Rasul, R. Vollgraf. Fashion-MNIST: a Novel Image Dataset for
    Benchmarking Machine Learning Algorithms. 2017. arXiv:1708.07747.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
from PIL import Image

from ..errors import ConfigError

__all__ = [
    "NOUNS",
    "NEAR_GAP",
    "FAR_GAP",
    "SMALL_MAX",
    "BIG_MIN",
    "SceneParams",
    "SceneItem",
    "Scene",
    "ParsedLine",
    "make_scenes",
    "reading_lines",
    "caption_of",
    "parse_caption",
    "render_scenes",
    "item_mentions",
    "scene_to_dict",
    "scene_from_dict",
]

# Fashion-MNIST label -> the words that name it in captions ([Xiao17] Table 1, shortened).
NOUNS: tuple[tuple[str, ...], ...] = (
    ("t-shirt",),
    ("trouser",),
    ("pullover",),
    ("dress",),
    ("coat",),
    ("sandal",),
    ("shirt",),
    ("sneaker",),
    ("bag",),
    ("ankle", "boot"),
)
NEAR_GAP = 6  # pixels: two items of a line closer than this are "next to" each other, else "left of"
FAR_GAP = 10  # pixels: a line this far or farther below the one above is "far below", else "below"
SMALL_MAX = 23  # pixels: an item of this side or smaller is "small"
BIG_MIN = 33  # pixels: an item of this side or larger is "big"
_TRIES = 64  # positions tried per item before the scene is drawn again
_ATTEMPTS = 10000  # scenes drawn before the parameters are declared unworkable
_NOUN_OF = {words: label for label, words in enumerate(NOUNS)}


@dataclass(frozen=True)
class SceneParams:
    """How scenes are drawn (see the module docstring).

    Attributes:
        size: canvas side, pixels.
        n_min, n_max: items per scene, 1 <= n_min <= n_max.
        side_min, side_max: item sides (squares), pixels, 1 <= side_min <= side_max <= size.
        gap: the least distance between two items, pixels, >= 1.
    """

    size: int = 84
    n_min: int = 2
    n_max: int = 4
    side_min: int = 20
    side_max: int = 36
    gap: int = 2

    def check(self) -> None:
        """Raises ConfigError for values out of range, or items that cannot fit."""
        if not 1 <= self.n_min <= self.n_max:
            raise ConfigError(f"need 1 <= n_min <= n_max items per scene, got {self.n_min} and {self.n_max}")
        if not 1 <= self.side_min <= self.side_max <= self.size:
            raise ConfigError(
                f"need 1 <= side_min <= side_max <= size pixels, got {self.side_min}, {self.side_max} and {self.size}"
            )
        if self.gap < 1:
            raise ConfigError(f"gap must be >= 1 pixel, got {self.gap}")
        if ((self.size + self.gap) // (self.side_min + self.gap)) ** 2 < self.n_max:
            raise ConfigError(
                f"{self.n_max} items of {self.side_min}-{self.side_max} pixels do not fit a "
                f"{self.size} x {self.size} canvas; lower n_max or side_max"
            )


class SceneItem(NamedTuple):
    """One item: its class `label` (index into NOUNS), its `source` image (index into the source
    array), and its `box` ``(x0, y0, x1, y1)`` in canvas pixels, end-exclusive (a square)."""

    label: int
    source: int
    box: tuple[int, int, int, int]


class Scene(NamedTuple):
    """A scene: its items in reading order, and its caption."""

    items: tuple[SceneItem, ...]
    caption: str


class ParsedLine(NamedTuple):
    """One line of a parsed caption: its items as (size word or None, label), left to right; the
    relation word between its two items (``"next to"`` / ``"left of"``; None unless it has exactly
    two); and its relation to the line above (``"below"`` / ``"far below"``; None for the first)."""

    items: tuple[tuple[str | None, int], ...]
    hrel: str | None
    vrel: str | None


def _clear(a: Sequence[int], b: Sequence[int], gap: int) -> bool:
    """Whether boxes a and b are on one line or on different lines, cleanly (module docstring)."""
    overlap = min(a[3], b[3]) - max(a[1], b[1])  # vertical overlap, pixels (negative: a gap)
    if overlap <= -gap:
        return True  # different lines
    apart = max(a[0], b[0]) - min(a[2], b[2])  # horizontal gap
    return 2 * overlap >= min(a[3] - a[1], b[3] - b[1]) and apart >= gap


def _same_line(a: Sequence[int], b: Sequence[int]) -> bool:
    return min(a[3], b[3]) - max(a[1], b[1]) > 0


def reading_lines(boxes: Sequence[Sequence[int]]) -> list[list[int]] | None:
    """The lines of a layout in reading order, as lists of indices into `boxes`.

    Args:
        boxes: N boxes ``(x0, y0, x1, y1)``, pixels, end-exclusive.

    Returns:
        Lines top to bottom, each left to right; None when the lines are not cleanly stacked
        (an item of one line reaches below the top of an item of the next line).
    """
    n = len(boxes)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if _same_line(boxes[i], boxes[j]):
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    lines = sorted(groups.values(), key=lambda g: min(boxes[i][1] for i in g))
    for upper, lower in zip(lines, lines[1:]):
        if max(boxes[i][3] for i in upper) > min(boxes[i][1] for i in lower):
            return None
    return [sorted(line, key=lambda i: boxes[i][0]) for line in lines]


def _item_words(label: int, side: int) -> list[str]:
    size = "small" if side <= SMALL_MAX else "big" if side >= BIG_MIN else None
    words = ([size] if size else []) + list(NOUNS[label])
    return ["an" if words[0][0] in "aeiou" else "a", *words]


def caption_of(items: Sequence[SceneItem]) -> str:
    """The caption of a layout by the module's grammar.

    Args:
        items: the scene's items (any order).

    Returns:
        The caption, tokens separated by single spaces.

    Raises:
        ValueError: if the layout's lines are not cleanly stacked (see :func:`reading_lines`).
    """
    boxes = [it.box for it in items]
    lines = reading_lines(boxes)
    if lines is None:
        raise ValueError("the items' lines are not cleanly stacked; no caption follows from this layout")
    clauses = []
    for k, line in enumerate(lines):
        words = [_item_words(items[i].label, boxes[i][2] - boxes[i][0]) for i in line]
        if len(line) == 1:
            tokens = words[0]
        elif len(line) == 2:
            gap = boxes[line[1]][0] - boxes[line[0]][2]
            tokens = [*words[0], *(("next", "to") if gap < NEAR_GAP else ("left", "of")), *words[1]]
        else:
            tokens = [*words[0]]
            for w in words[1:]:
                tokens += ["and", *w]
            tokens += ["in", "a", "row"]
        if k:
            above = max(boxes[i][3] for i in lines[k - 1])
            gap = min(boxes[i][1] for i in line) - above
            tokens += ["below"] if gap < FAR_GAP else ["far", "below"]
        clauses.append(" ".join(tokens))
    return " , ".join(clauses)


def _parse_item(tokens: list[str], caption: str) -> tuple[str | None, int]:
    if len(tokens) < 2:
        raise ValueError(f"{caption!r}: an item needs an article and a noun, got {' '.join(tokens)!r}")
    article, rest = tokens[0], tokens[1:]
    size = rest[0] if rest[0] in ("small", "big") else None
    noun = tuple(rest[1:] if size else rest)
    if noun not in _NOUN_OF:
        raise ValueError(f"{caption!r}: {' '.join(noun)!r} is not a noun of the grammar")
    if article != ("an" if rest[0][0] in "aeiou" else "a"):
        raise ValueError(f"{caption!r}: wrong article {article!r} before {rest[0]!r}")
    return size, _NOUN_OF[noun]


def _split(tokens: list[str], word: str) -> list[list[str]]:
    parts: list[list[str]] = [[]]
    for t in tokens:
        if t == word:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def parse_caption(caption: str) -> list[ParsedLine]:
    """Read a caption of the module's grammar back into its lines.

    Args:
        caption: tokens separated by spaces.

    Returns:
        The lines, top to bottom.

    Raises:
        ValueError: if the caption does not follow the grammar (the message says where).
    """
    lines = []
    for k, clause in enumerate(_split(caption.split(), ",")):
        vrel = None
        if k:
            if clause[-2:] == ["far", "below"]:
                vrel, clause = "far below", clause[:-2]
            elif clause[-1:] == ["below"]:
                vrel, clause = "below", clause[:-1]
            else:
                raise ValueError(f"{caption!r}: clause {k + 1} does not end with 'below' or 'far below'")
        hrel = None
        if clause[-3:] == ["in", "a", "row"]:
            parts = _split(clause[:-3], "and")
            if len(parts) < 3:
                raise ValueError(f"{caption!r}: 'in a row' needs three or more items")
        else:
            for rel in ("next to", "left of"):
                a, b = rel.split()
                at = [i for i in range(len(clause) - 1) if clause[i] == a and clause[i + 1] == b]
                if at:
                    hrel, parts = rel, [clause[: at[0]], clause[at[0] + 2 :]]
                    break
            else:
                parts = [clause]
        lines.append(ParsedLine(tuple(_parse_item(p, caption) for p in parts), hrel, vrel))
    return lines


def item_mentions(tokens: Sequence[str]) -> list[tuple[int, list[int]]]:
    """The items a token sequence names, in order: (label, positions of the words naming it).

    Only the noun words count (``ankle boot`` is one mention of two words); any sequence is
    accepted, grammatical or not, so generated captions can be scored word by word.
    """
    out, t = [], 0
    while t < len(tokens):
        for words, label in _NOUN_OF.items():
            if tuple(tokens[t : t + len(words)]) == words:
                out.append((label, list(range(t, t + len(words)))))
                t += len(words)
                break
        else:
            t += 1
    return out


def _layout(rng: np.random.Generator, p: SceneParams) -> list[tuple[int, int, int, int]]:
    """Boxes of one scene, drawn until they are clear and cleanly stacked."""
    n = int(rng.integers(p.n_min, p.n_max + 1))
    for _ in range(_ATTEMPTS):
        boxes: list[tuple[int, int, int, int]] = []
        for _ in range(n):
            side = int(rng.integers(p.side_min, p.side_max + 1))
            xy = rng.integers(0, p.size - side + 1, size=(_TRIES, 2))
            for x, y in xy.tolist():
                box = (x, y, x + side, y + side)
                if all(_clear(box, b, p.gap) for b in boxes):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) == n and reading_lines(boxes) is not None:
            return boxes
    raise ConfigError(
        f"no layout of {n} items of {p.side_min}-{p.side_max} pixels found on a "
        f"{p.size} x {p.size} canvas in {_ATTEMPTS} draws; lower n_max or side_max"
    )


def make_scenes(
    n: int, labels: np.ndarray, pool: np.ndarray, *, seed: int, params: SceneParams = SceneParams()
) -> list[Scene]:
    """Draw `n` scenes whose items come from the source images `pool` (module docstring).

    Source images are used in the order of a seeded permutation of `pool`, each once before any
    is used again (a new permutation each round).

    Args:
        n: scenes, >= 0.
        labels: (M,) class of every source image, in [0, 10).
        pool: indices into `labels` (and the source images) this set may use, (K,), K >= 1.
        seed: seed of the generator drawing everything.
        params: the layout parameters.

    Returns:
        The scenes, each with its items in reading order and its caption.

    Raises:
        ConfigError: for bad parameters or an empty pool.
    """
    params.check()
    if len(pool) == 0:
        raise ConfigError("the pool of source images is empty")
    rng = np.random.Generator(np.random.PCG64(seed))
    order: list[int] = []
    scenes = []
    for _ in range(n):
        boxes = _layout(rng, params)
        if len(order) < len(boxes):
            order += rng.permutation(pool).tolist()
        sources, order = order[: len(boxes)], order[len(boxes) :]
        lines = reading_lines(boxes)
        assert lines is not None  # _layout draws cleanly stacked boxes only
        items = tuple(SceneItem(int(labels[sources[i]]), int(sources[i]), boxes[i]) for line in lines for i in line)
        scenes.append(Scene(items, caption_of(items)))
    return scenes


def render_scenes(scenes: Sequence[Scene], images: np.ndarray, size: int) -> np.ndarray:
    """The pixels of `scenes`: each item's source image resized bilinearly to its box and pasted.

    Args:
        scenes: N scenes.
        images: the source images, uint8 (M, 28, 28), intensities in [0, 255].
        size: canvas side, pixels.

    Returns:
        uint8 (N, size, size), 0 the background.

    Raises:
        ValueError: if a box does not lie inside the canvas or a source index is out of range.
    """
    out = np.zeros((len(scenes), size, size), dtype=np.uint8)
    for s, scene in enumerate(scenes):
        for item in scene.items:
            x0, y0, x1, y1 = item.box
            if not (0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size) or not 0 <= item.source < len(images):
                raise ValueError(
                    f"scene {s}: item {item} lies outside the {size} x {size} canvas or names "
                    f"no source image (there are {len(images)})"
                )
            picture = Image.fromarray(images[item.source]).resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
            out[s, y0:y1, x0:x1] = np.asarray(picture, dtype=np.uint8)
    return out


def scene_to_dict(scene: Scene) -> dict:
    """JSON-ready form: ``{"caption": str, "items": [[label, source, x0, y0, x1, y1], ...]}``."""
    return {"caption": scene.caption, "items": [[it.label, it.source, *it.box] for it in scene.items]}


def scene_from_dict(d: dict) -> Scene:
    """Inverse of :func:`scene_to_dict`.

    Raises:
        ValueError: if the dict is malformed.
    """
    try:
        if any(len(r) != 6 for r in d["items"]):
            raise ValueError("an item needs [label, source, x0, y0, x1, y1]")
        items = tuple(SceneItem(int(r[0]), int(r[1]), (int(r[2]), int(r[3]), int(r[4]), int(r[5]))) for r in d["items"])
        return Scene(items, str(d["caption"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"malformed scene record ({err})") from None
