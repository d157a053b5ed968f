"""Write small example data sets of every modality, in the layouts attnkit's user-data tasks read
(the README's "Your own data"; configs/examples/*.yaml read them from ``my-data/``):

- ``my-data/shapes/{circle,square,triangle}/*.png|jpg``: 60 pictures per class (``image-folder``);
- ``my-data/graph/nodes.csv`` (id, label, a number, a text; every 10th node unlabelled) and
  ``my-data/graph/edges.csv`` (source, target) (``graph-csv``);
- ``my-data/recordings/*.wav`` with ``my-data/labels.tsv`` (FILE<TAB>LABEL: the wave form) and
  ``my-data/transcripts.tsv`` (FILE<TAB>TRANSCRIPT: the tones' letters) (``audio-labels``,
  ``audio-transcripts``);
- ``my-data/texts.tsv`` (LABEL<TAB>TEXT) (``text-classification``).

    python docs/examples/make_user_data.py [OUT]      # default my-data; seeded, so always the same
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image, ImageDraw


def shapes(out: Path, rng: random.Random) -> None:
    for name in ("circle", "square", "triangle"):
        (out / "shapes" / name).mkdir(parents=True, exist_ok=True)
        for i in range(60):
            img = Image.new("RGB", (64, 64), "white")
            x, y, s = rng.randint(2, 30), rng.randint(2, 30), rng.randint(16, 32)
            colour = tuple(rng.randint(0, 200) for _ in range(3))
            draw = ImageDraw.Draw(img)
            if name == "circle":
                draw.ellipse([x, y, x + s, y + s], fill=colour)
            elif name == "square":
                draw.rectangle([x, y, x + s, y + s], fill=colour)
            else:
                draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=colour)
            img.save(out / "shapes" / name / f"{i}.{'png' if i % 2 else 'jpg'}")


def graph(out: Path, rng: random.Random) -> None:
    topics = {
        "art": "paint brush canvas museum colour",
        "maths": "proof number theorem prime graph",
        "music": "song guitar rhythm choir piano",
    }
    nodes, edges = [], []
    for i in range(150):
        label = list(topics)[i % 3]
        words = " ".join(rng.choices(topics[label].split() + ["the", "and", "of"], k=6))
        nodes.append([f"p{i}", "" if i % 10 == 0 else label, round(rng.random(), 3), words])
        for _ in range(3):  # mostly within the topic
            j = rng.randrange(150) if rng.random() < 0.2 else rng.randrange(50) * 3 + i % 3
            edges.append([f"p{i}", f"p{j}"])
    (out / "graph").mkdir(parents=True, exist_ok=True)
    with open(out / "graph" / "nodes.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["id", "label", "age", "description"], *nodes])
    with open(out / "graph" / "edges.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["source", "target"], *edges])


def recordings(out: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pitch = {"a": 262.0, "b": 392.0, "c": 659.0}  # Hz: one tone of 0.2 s per letter
    waves = {"sine": np.sin, "square": lambda x: np.sign(np.sin(x)), "sawtooth": lambda x: (x / np.pi) % 2 - 1}
    t = np.arange(3200) / 16000
    (out / "recordings").mkdir(parents=True, exist_ok=True)
    with (
        open(out / "labels.tsv", "w", encoding="utf-8") as labels,
        open(out / "transcripts.tsv", "w", encoding="utf-8") as transcripts,
    ):
        for i in range(240):
            word = "".join(rng.choice(list(pitch), size=rng.integers(1, 5)))
            wave = str(rng.choice(list(waves)))
            sound = np.concatenate([0.3 * waves[wave](2 * np.pi * pitch[ch] * t) for ch in word])
            soundfile.write(out / "recordings" / f"{i}.wav", sound + 0.01 * rng.standard_normal(sound.size), 16000)
            labels.write(f"{i}.wav\t{wave}\n")  # the label: the wave form (the "instrument")
            transcripts.write(f"{i}.wav\t{word}\n")  # the transcript: the tones' letters


def texts(out: Path, rng: random.Random) -> None:
    topics = {
        "sport": "ball goal team match player score win coach".split(),
        "food": "bread soup cook salt pepper bake dinner fruit".split(),
        "weather": "rain sun cloud wind storm snow cold warm".split(),
    }
    common = "the a is was and then very today".split()
    with open(out / "texts.tsv", "w", encoding="utf-8") as f:
        for i in range(300):
            label = list(topics)[i % 3]
            sentences = [
                " ".join(rng.choices(topics[label] + common * 2, k=rng.randint(4, 9))).capitalize() + "."
                for _ in range(rng.randint(1, 4))
            ]
            f.write(f"{label}\t{' '.join(sentences)}\n")


def main(argv: list[str]) -> None:
    out = Path(argv[0] if argv else "my-data")
    out.mkdir(parents=True, exist_ok=True)
    shapes(out, random.Random(0))
    graph(out, random.Random(0))
    recordings(out, 0)
    texts(out, random.Random(0))
    print(f"wrote {out}/shapes, {out}/graph, {out}/recordings + labels.tsv + transcripts.tsv, {out}/texts.tsv")


if __name__ == "__main__":
    main(sys.argv[1:])
