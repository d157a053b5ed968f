"""A tiny aligned-translation run for the explorer's tests: a toy corpus (Spanish digit words ->
English digit words in reverse order, gold links i-(n-1-i) on dev and test), subword pieces, a
Transformer trained for a few steps (the gold boxes are drawn whatever the model learnt)."""

from __future__ import annotations

import random
from pathlib import Path

from attnkit.config import load_config
from attnkit.evaluation.alignment import write_pharaoh
from attnkit.training.pipeline import train_run

ES = "cero uno dos tres cuatro cinco seis siete ocho nueve".split()
EN = "zero one two three four five six seven eight nine".split()


def write_corpus(folder: Path, sizes=(("train", 120), ("dev", 10), ("test", 10)), seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes:
        src, tgt, links = [], [], []
        for _ in range(n):
            digits = [rng.randrange(10) for _ in range(rng.randint(2, 5))]
            src.append(" ".join(ES[d] for d in digits))
            tgt.append(" ".join(EN[d] for d in reversed(digits)))
            links.append({(i, len(digits) - 1 - i) for i in range(len(digits))})
        (folder / f"{split}.src").write_text("\n".join(src) + "\n", encoding="utf-8")
        (folder / f"{split}.tgt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
        write_pharaoh(folder / f"{split}.eflomal.pharaoh", links)
        if split != "train":
            write_pharaoh(folder / f"{split}.gold.pharaoh", links)
    return folder


def train_aligned_run(root: Path) -> Path:
    corpus = write_corpus(root / "corpus")
    cfg = load_config(None, ["data.task=aligned-translation", f"data.corpus={corpus}", "data.vocab_size=40",
                             "data.max_source_len=40", "model.arch=transformer", "model.d_model=16", "model.n_heads=2",
                             "model.enc_layers=1", "model.dec_layers=2", "model.d_ff=32", "model.dropout=0.0",
                             "train.max_steps=4", "train.eval_every=4", "train.batch_size=32", "train.threads=1",
                             "train.warmup_steps=1"])
    train_run(cfg, root / "aligned", progress=False)
    return root / "aligned"
