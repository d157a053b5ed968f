"""The HAN study: a Hierarchical Attention Network [Yang16] against a bag-of-words logistic
regression, both classifying Bible chapters by section of the canon (:mod:`attnkit.data.bible_sections`).

:func:`run_han_study` trains the HAN as a normal run (``data.task: bible-sections``,
``model.arch: han``; the same as ``attnkit train configs/bible-sections-han.yaml``) into
``OUT/han`` with the one trainer, scores it on test through its task, fits the baseline on the
same split (TF-IDF over the HAN's vocabulary and tokens, C chosen on dev), picks a correctly
classified test chapter to show the attention weights on, and writes ``OUT/report.md`` (see
:mod:`attnkit.studies.han_report`), ``OUT/metrics.json`` and ``OUT/han-example.png``.

The picture is drawn by a `render` callable the caller passes in (the CLI passes
:func:`attnkit.viz.plot_document_attention` and ``save_figure``), since pictures are a higher layer.

References:
    [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks
    for Document Classification. NAACL 2016. ACL Anthology N16-1174.
    [Pedregosa11] F. Pedregosa et al. Scikit-learn: Machine Learning in Python. JMLR 12, 2011.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..config import RunConfig, load_config
from ..data.bible_sections import SECTIONS, BibleSections, Chapter, build_dataset, encode_batch
from ..data.vocab import SPECIALS
from ..evaluation import classification_metrics
from ..io import atomic_write_text
from ..models.han import HierarchicalAttentionNetwork
from ..training.pipeline import train_run
from ..training.run import load_run
from .budget import Budget
from .han_report import machine_description, write_report

__all__ = ["HAN_RECIPE", "han_config", "DocumentExample", "StudyError", "run_han_study", "logistic_regression_baseline"]

log = logging.getLogger(__name__)

STUDY_EXTRA = "pip install scikit-learn"

# configs/bible-sections-han.yaml without eval_every/max_steps, which follow the split's size here
HAN_RECIPE = (
    "data.task=bible-sections",
    "model.arch=han",
    "model.emb_dim=200",
    "model.hidden_dim=50",
    "model.attn_dim=100",
    "model.dropout=0.3",
    "train.batch_size=16",
    "train.lr=0.002",
    "train.lr_min=0.002",
    "train.schedule=constant",
    "train.clip_norm=5.0",
    "train.patience=3",
    "train.bucket=20",
)
EXAMPLE, EXAMPLE_VERSES, LR_GRID = "Ps 23", (6, 16), (1.0, 10.0, 100.0, 1000.0)


class StudyError(RuntimeError):
    """A study that cannot run (e.g. a missing optional dependency); the message says what to do."""


@dataclass
class DocumentExample:
    """One test chapter with the HAN's attention, ready to draw.

    Attributes:
        ref: "Ps 23".
        sentences: the S verses shown, each a list of words.
        word_weights: (S, W) word weights of the verses shown, in [0, 1].
        sentence_weights: (S,) weights of the verses shown (over all the chapter's verses).
        verse_numbers: 1-based position of each shown verse among the chapter's (kept) verses.
        n_verses: verses of the chapter.
        gold, predicted: section names; probability: the predicted class's, in [0, 1].
    """

    ref: str
    sentences: list[list[str]]
    word_weights: np.ndarray
    sentence_weights: np.ndarray
    verse_numbers: list[int]
    n_verses: int
    gold: str
    predicted: str
    probability: float
    title: str = field(default="")


Render = Callable[[DocumentExample, Path], None]


def _sklearn():
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise StudyError(f"the bag-of-words baseline needs scikit-learn; {STUDY_EXTRA}") from None
    return TfidfVectorizer, LogisticRegression


def _words(chapter: Chapter) -> list[str]:
    return [w for verse in chapter.verses for w in verse]


def logistic_regression_baseline(dataset: BibleSections, grid: Sequence[float], *, seed: int = 1234) -> dict:
    """Multinomial logistic regression on TF-IDF bags of words, C chosen on dev.

    Features: sublinear TF-IDF over exactly the HAN's vocabulary (the training words with at least
    ``min_freq`` occurrences) computed on the same capped chapters and tokens; rows are
    L2-normalised. For each C in `grid` the model is fitted on train and scored on dev; the best
    (by dev accuracy, then macro-F1, then the smaller C) is scored on test. Dev is never trained on.

    Returns:
        {"C", "dev": {C: accuracy}, "dev_accuracy", "dev_macro_f1", "test": metrics of
        :func:`classification_metrics`, "test_predicted": [int], "seconds", "features"}.

    Raises:
        StudyError: if scikit-learn is not installed.
        ValueError: if `grid` is empty.
    """
    tfidf_cls, lr_cls = _sklearn()
    start = time.perf_counter()
    vocabulary = [t for t in dataset.vocab.itos if t not in SPECIALS]
    vectorizer = tfidf_cls(analyzer=_words, vocabulary=vocabulary, sublinear_tf=True)
    x = {
        s: (vectorizer.fit_transform if s == "train" else vectorizer.transform)(dataset.splits[s])
        for s in ("train", "dev", "test")
    }
    y = {s: np.array([c.label for c in dataset.splits[s]]) for s in x}
    n = len(SECTIONS)
    best: tuple[Any, dict, float] | None = None  # (fitted model, dev metrics, C)
    dev_scores: dict[float, float] = {}
    for c in sorted(grid):
        model = lr_cls(C=c, max_iter=5000, random_state=seed).fit(x["train"], y["train"])
        m = classification_metrics(model.predict(x["dev"]), y["dev"], n)
        dev_scores[c] = m["accuracy"]
        if best is None or (m["accuracy"], m["macro_f1"]) > (best[1]["accuracy"], best[1]["macro_f1"]):
            best = (model, m, c)
    if best is None:
        raise ValueError("logistic_regression_baseline needs at least one C in grid")
    model, dev_metrics, c = best
    predicted = model.predict(x["test"])
    return {
        "C": c,
        "dev": dev_scores,
        "dev_accuracy": dev_metrics["accuracy"],
        "dev_macro_f1": dev_metrics["macro_f1"],
        "test": classification_metrics(predicted, y["test"], n),
        "test_predicted": predicted.tolist(),
        "seconds": time.perf_counter() - start,
        "features": len(vocabulary),
    }


def _pick_example(test: Sequence[Chapter], probs: torch.Tensor) -> int:
    """Index of the test chapter to draw: :data:`EXAMPLE` if classified correctly, else the most
    confidently correct chapter with a verse count in :data:`EXAMPLE_VERSES`, else the most
    confident correct one, else the first."""
    pred, conf = probs.argmax(-1), probs.max(-1).values
    correct = [i for i, c in enumerate(test) if int(pred[i]) == c.label]
    for i in correct:
        if test[i].ref == EXAMPLE:
            return i
    lo, hi = EXAMPLE_VERSES
    sized = [i for i in correct if lo <= len(test[i].verses) <= hi]
    pool = sized or correct
    return max(pool, key=lambda i: float(conf[i])) if pool else 0


@torch.no_grad()
def document_example(
    model: HierarchicalAttentionNetwork, chapter: Chapter, vocab, *, max_verses: int = 16
) -> DocumentExample:
    """The HAN's weights on `chapter`; at most `max_verses` verses are kept (the most attended,
    in chapter order) so the picture stays readable."""
    batch = encode_batch([chapter], vocab)
    out = model.eval()(batch.tokens, batch.sentence_lengths, batch.n_sentences)
    probs = torch.softmax(out.logits[0], -1)
    sw = out.sentence_weights[0].numpy()  # (S,)
    shown = sorted(np.argsort(-sw, kind="stable")[:max_verses].tolist())
    pred = int(probs.argmax())
    names = [s.name for s in SECTIONS]
    return DocumentExample(
        chapter.ref,
        [list(chapter.verses[i]) for i in shown],
        out.word_weights[0].numpy()[shown],
        sw[shown],
        [i + 1 for i in shown],
        len(chapter.verses),
        names[chapter.label],
        names[pred],
        float(probs[pred]),
    )


def han_config(module: str, seed: int, epochs: int, n_train: int, overrides: Sequence[str] = ()) -> RunConfig:
    """The study's run config: :data:`HAN_RECIPE`, validation once per epoch of `n_train` chapters."""
    per_epoch = max(1, n_train // 16)
    return load_config(
        None,
        [
            *HAN_RECIPE,
            f"data.module={module}",
            f"data.seed={seed}",
            f"train.seed={seed}",
            f"train.eval_every={per_epoch}",
            f"train.max_steps={per_epoch * epochs}",
            *overrides,
        ],
    )


def run_han_study(
    out: str | Path,
    *,
    module: str = "engWEB2015eb",
    seed: int = 1234,
    epochs: int = 10,
    budget: Budget | None = None,
    threads: int = 2,
    command: str = "",
    progress: bool = True,
    render: Render | None = None,
) -> dict:
    """Run the study end to end and write its folder; returns the metrics written to ``metrics.json``.

    Args:
        out: study folder (created); the HAN's run folder is ``out/han``.
        module: SWORD module to read.
        seed: seed of the split and of training.
        epochs: most passes over the training chapters.
        budget: a budget in steps (instead of `epochs`) or minutes (within `epochs`); None: `epochs`.
        threads: torch CPU threads (0: PyTorch's default).
        command: the command line that ran the study, for the report.
        progress: show the training progress bar.
        render: draws a :class:`DocumentExample` into a PNG path; None = no picture.

    Raises:
        attnkit.data.sword.SwordError: if the SWORD module is missing or unreadable.
        StudyError: if scikit-learn is missing.
    """
    _sklearn()  # fail before training, not after
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    probe = load_config(None, [*HAN_RECIPE, f"data.module={module}", f"data.seed={seed}"])
    dataset = build_dataset(probe.data)
    extra = [*([f"train.threads={threads}"] if threads else []), *(budget.overrides() if budget else [])]
    cfg = han_config(module, seed, epochs, len(dataset.splits["train"]), extra)
    result = train_run(cfg, out / "han", progress=progress)
    from ..tasks.bible_sections import BibleSectionsTask

    run = load_run(out / "han")
    task, han = run.task, run.model
    if not isinstance(task, BibleSectionsTask) or not isinstance(han, HierarchicalAttentionNetwork):
        raise StudyError(f"{out / 'han'} is not a bible-sections HAN run")  # han_config made it one
    test = task.load_split(run.path, "test")
    han_test, predictions = task.evaluate(han, test)
    probs = torch.tensor([p.probabilities for p in predictions])
    baseline = logistic_regression_baseline(dataset, LR_GRID, seed=seed)
    example = document_example(han, test[_pick_example(test, probs)], task.vocab)
    example.title = (
        f"{example.ref} ({module}): {example.gold}, predicted {example.predicted} (p = {example.probability:.2f})"
    )
    if example.n_verses > len(example.sentences):
        example.title += f"; the {len(example.sentences)} most attended of {example.n_verses} verses"
    if render is not None:
        render(example, out / "han-example.png")
    history, previous = [], 0.0
    for i, rec in enumerate(result.history, 1):
        history.append(
            {
                "epoch": i,
                "train_loss": rec["loss"],
                "dev_accuracy": rec["dev_accuracy"],
                "dev_macro_f1": rec["dev_macro_f1"],
                "seconds": rec["seconds"] - previous,
            }
        )
        previous = rec["seconds"]
    best_epoch = next(i for i, rec in enumerate(result.history, 1) if rec["step"] == result.best_step)
    best = history[best_epoch - 1]
    train = dataclasses.asdict(cfg.train)
    budget_record = {"budget": budget.record()} if budget else {}
    metrics = {
        "config": {
            **dataclasses.asdict(cfg.model),
            "data": dataclasses.asdict(cfg.data),
            "train": {**train, "weight_decay": 0.0, "epochs": epochs, **budget_record},
        },
        "command": command,
        "machine": machine_description(threads),
        "run": str(out / "han"),
        "module": dataclasses.asdict(dataset.info),
        "counts": dataset.counts,
        "per_section": {s: dataset.per_section(s) for s in ("train", "dev", "test")},
        "unk_rate": {s: dataset.unk_rate(s) for s in ("dev", "test")},
        "han": {
            "test": {k: v for k, v in han_test.items() if k != "classes"},
            "dev_accuracy": best["dev_accuracy"],
            "dev_macro_f1": best["dev_macro_f1"],
            "best_epoch": best_epoch,
            "epochs_run": len(history),
            "stopped_early": result.stopped_early,
            "seconds": result.seconds,
            "history": history,
            "parameters": sum(p.numel() for p in run.model.parameters()),
            "test_predicted": probs.argmax(-1).tolist(),
        },
        "logreg": baseline,
        "test_refs": [c.ref for c in test],
        "test_labels": [c.label for c in test],
        "example": {
            "ref": example.ref,
            "gold": example.gold,
            "predicted": example.predicted,
            "probability": example.probability,
            "verses_shown": example.verse_numbers,
            "n_verses": example.n_verses,
            "picture": "han-example.png" if render else None,
        },
        "seconds": time.perf_counter() - start,
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1, ensure_ascii=False))
    write_report(out / "report.md", metrics)
    return metrics
