"""A tiny aligned-translation run for the explorer's tests: a toy corpus (Spanish digit words ->
English digit words in reverse order, gold links i-(n-1-i) on dev and test), subword pieces, a
Transformer trained for a few steps (the gold boxes are drawn whatever the model learnt)."""

from __future__ import annotations

from pathlib import Path

from attnkit.config import load_config
from attnkit.training.pipeline import train_run

from ..tasks.test_aligned_translation import write_aligned_corpus


def write_corpus(folder: Path, seed: int = 0) -> Path:
    return write_aligned_corpus(folder, n_train=120, n_dev=10, n_test=10, seed=seed, max_digits=5)


def train_aligned_run(root: Path) -> Path:
    corpus = write_corpus(root / "corpus")
    cfg = load_config(
        None,
        [
            "data.task=aligned-translation",
            f"data.corpus={corpus}",
            "data.vocab_size=40",
            "data.max_source_len=40",
            "model.arch=transformer",
            "model.d_model=16",
            "model.n_heads=2",
            "model.enc_layers=1",
            "model.dec_layers=2",
            "model.d_ff=32",
            "model.dropout=0.0",
            "train.max_steps=4",
            "train.eval_every=4",
            "train.batch_size=32",
            "train.threads=1",
            "train.warmup_steps=1",
        ],
    )
    train_run(cfg, root / "aligned", progress=False)
    return root / "aligned"
