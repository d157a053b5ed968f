"""Per-word attention pictures of a trained captioning run on its test scenes, good and bad.

    python docs/results/captioning_pictures.py RUN PREFIX [--beam 5] [--first 300] [--good 1] [--bad 1]

Decodes the first `--first` test scenes (beam search), and draws with
attnkit.viz.plot_caption_attention, item boxes outlined: the "good" scenes (caption exactly
right first, then the most named items of the right class whose words all peak inside the item's
box), then the "bad" ones (the most item words wrong). Writes PREFIX-good-INDEX.png and PREFIX-bad-INDEX.png
and prints, per picture, the generated and the true caption.
"""

from __future__ import annotations

import argparse

import numpy as np

from attnkit.data import scenes as scene_data
from attnkit.evaluation import attention_in_box
from attnkit.training.run import load_run
from attnkit.viz import plot_caption_attention, save_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("prefix")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--first", type=int, default=300)
    ap.add_argument("--good", type=int, default=1)
    ap.add_argument("--bad", type=int, default=1)
    args = ap.parse_args()
    run = load_run(args.run)
    task = run.task
    examples = task.load_split(run.path, "test")[: args.first]
    _, preds = task.evaluate(run.model, examples, beam_size=args.beam)
    size = (task.config.size, task.config.size)
    good, bad = [], []
    for i, (pred, ex) in enumerate(zip(preds, examples)):
        mentions = scene_data.item_mentions(pred.words)
        wrong = sum(label != item.label for (label, _), item in zip(mentions, ex.scene.items))
        wrong += abs(len(mentions) - len(ex.scene.items))
        found = 0  # named items whose class is right and whose words all peak inside the box
        if pred.word_maps is not None:
            found = sum(
                label == item.label and bool(attention_in_box(pred.word_maps[pos], item.box, size)[0].all())
                for (label, pos), item in zip(mentions, ex.scene.items)
            )
        good.append((i, (pred.output == ex.scene.caption, found, -wrong)))
        bad.append((i, wrong))
    good.sort(key=lambda t: t[1], reverse=True)
    bad.sort(key=lambda t: -t[1])
    for kind, chosen in (("good", good[: args.good]), ("bad", bad[: args.bad])):
        for i, _ in chosen:
            pred, ex = preds[i], examples[i]
            maps = pred.word_maps if pred.word_maps is not None else np.zeros((len(pred.words), 1, 1))
            fig = plot_caption_attention(
                pred.image,
                pred.words,
                maps,
                boxes=[it.box for it in ex.scene.items],
                title=f"test scene {i}\n{pred.output}\ntrue: {ex.scene.caption}",
            )
            path = save_figure(fig, f"{args.prefix}-{kind}-{i}.png")
            print(f"{path}: {pred.output!r} | true {ex.scene.caption!r}")


if __name__ == "__main__":
    main()
