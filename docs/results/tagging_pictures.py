"""The pictures of the tagging study (issue 29): where each tagger looked on one held-out verse.

    python docs/results/tagging_pictures.py [RUNS] [--verse "Mark 1:9"] [--out docs/results]

For each neural tagger of the book split (``RUNS/<model>-book``, default ``runs/tagging``) two
maps over the words of one verse of a held-out book, rows the word being tagged, columns the
words of the verse:

- **attention**: the self-attention of the last layer, mean over heads (the models with
  self-attention only: ``transformer`` and ``bilstm-attention``); what ``attnkit predict
  --attention-plot`` draws;
- **gradient x input**: for the morphology tag the model predicts for word i, the L2 norm of
  (d log p(tag_i) / d e_j) * e_j at every word j, e_j the word's input vector (word, character and
  suffix embeddings, after the tagger's input layer), row i normalised to sum 1 (Li, Chen, Hovy,
  Jurafsky 2016, "Visualizing and Understanding Neural Models in NLP", arXiv:1506.01066; the
  gradient x input form of Shrikumar et al. 2017, arXiv:1704.02685). It exists for every neural
  model, the BiLSTM and the CNN included, so the four can be compared on one footing.

The dictionary baseline reads only the word itself (its most frequent tag, else its suffix): its
map would be the identity, and it is not drawn. Writes ``tagging-looks.png`` (all models) and
``tagging-attention-<model>.png`` (the prediction view of each model with self-attention).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import attnkit  # noqa: E402
from attnkit.data.sblgnt import read_sblgnt  # noqa: E402
from attnkit.viz import plot_prediction  # noqa: E402

MODELS = ("transformer", "bilstm-attention", "bilstm", "cnn")


def gradient_x_input(run, words: list[str], target: str = "morph") -> tuple[np.ndarray, list[str]]:
    """(T, T) rows normalised to 1: row i = |grad of log p(predicted tag of word i) x input| per
    word j; and the predicted tags."""
    task, model = run.task, run.model
    model.eval()
    batch = task.collate([task._encode_words(words)])
    captured: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        output.retain_grad()
        captured["x"] = output

    handle = model.encoder.embed.register_forward_hook(keep)
    try:
        out = model(batch.words, batch.chars, batch.mask, need_weights=False)
    finally:
        handle.remove()
    logp = torch.log_softmax(out.logits[target][0].double(), dim=-1)  # (T, n)
    best = logp.argmax(-1)
    x = captured["x"]
    rows = []
    for i in range(len(words)):
        x.grad = None
        logp[i, best[i]].backward(retain_graph=True)
        rows.append((x.grad[0] * x[0]).norm(dim=-1).detach().double())
    sal = torch.stack(rows).numpy()
    sal = sal / sal.sum(axis=1, keepdims=True)
    return sal, [task.labels[target][k] for k in best.tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="?", default="runs/tagging")
    parser.add_argument("--verse", default="Mark 1:9")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    torch.manual_seed(0)
    verse = next(v for v in read_sblgnt() if v.ref == args.verse)
    words = list(verse.words)
    out = Path(args.out)
    found = [m for m in MODELS if (Path(args.runs) / f"{m}-book" / "model.safetensors").is_file()]
    fig, axes = plt.subplots(len(found), 2, figsize=(13, 5.6 * len(found)), squeeze=False)
    for row, name in enumerate(found):
        run = attnkit.load_run(Path(args.runs) / f"{name}-book")
        [pred] = run.predict(" ".join(words))
        sal, tags = gradient_x_input(run, words)
        labels = [f"{w}  {t}" + ("" if t == g else f" (gold {g})") for w, t, g in zip(words, tags, verse.morph)]
        left, right = axes[row]
        if pred.weights.shape[0]:
            plot_prediction(pred).savefig(out / f"tagging-attention-{name}.png", dpi=110, bbox_inches="tight")
            plt.close("all")
            attention = pred.weights[-1].mean(axis=0)
            left.imshow(attention, cmap="Blues", vmin=0, vmax=max(float(attention.max()), 1e-9))
            left.set_title(f"{name}: attention, last layer, mean of heads")
            left.set_xticks(range(len(words)), words, rotation=90, fontsize=8)
            left.set_yticks(range(len(words)), labels, fontsize=8)
        else:
            left.text(0.5, 0.5, f"{name}: no attention", ha="center", va="center", fontsize=13)
            left.set_xticks([])
            left.set_yticks([])
        right.imshow(sal, cmap="Oranges", vmin=0, vmax=float(sal.max()))
        context = 1.0 - float(np.trace(sal)) / len(words)
        right.set_title(f"{name}: gradient x input, morphology tag ({context:.0%} from other words)")
        right.set_xticks(range(len(words)), words, rotation=90, fontsize=8)
        right.set_yticks(range(len(words)), labels, fontsize=8)
    fig.suptitle(f"{args.verse} (a held-out book): rows the word tagged, columns the words it drew on", fontsize=13)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    fig.savefig(out / "tagging-looks.png", dpi=90)
    print(f"wrote {out / 'tagging-looks.png'} and the attention views of {', '.join(found)}")


if __name__ == "__main__":
    main()
