"""The HAN study: a Hierarchical Attention Network [Yang16] against a bag-of-words logistic
regression, both classifying Bible chapters by section of the canon (:mod:`attnkit.tasks.bible_sections`).

:func:`run_han_study` builds the dataset, trains the HAN with :func:`attnkit.training.classify.train_classifier`
(best dev accuracy kept), fits the baseline on the same split (TF-IDF over the HAN's vocabulary
and tokens, C chosen on dev), scores both on test, picks a correctly classified test chapter to
show the attention weights on, and writes the run folder: ``report.md`` (see
:mod:`attnkit.training.han_report`), ``metrics.json``, ``han.safetensors``, ``han-config.json``,
``vocab.json``, ``dataset.json`` and ``han-example.png``.

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
from typing import Callable, Sequence

import numpy as np
import torch

from ..data.vocab import SPECIALS
from ..io import atomic_write_text
from ..models.han import HierarchicalAttentionNetwork
from ..tasks.bible_sections import SECTIONS, BibleSections, Chapter, Reader, SectionsConfig, build_dataset, encode_batch
from .classify import ClassifierConfig, classification_metrics, predict, train_classifier
from .han_report import machine_description, write_report

__all__ = ["HANStudyConfig", "DocumentExample", "StudyError", "run_han_study", "logistic_regression_baseline"]

log = logging.getLogger(__name__)

STUDY_EXTRA = "pip install 'attnkit[study]'"


class StudyError(RuntimeError):
    """A study that cannot run (e.g. a missing optional dependency); the message says what to do."""


@dataclass(frozen=True)
class HANStudyConfig:
    """Everything the study's numbers depend on.

    Attributes:
        data: the dataset (module, split seed, vocabulary and caps).
        emb_dim, hidden_dim, attn_dim, dropout: the HAN's sizes (:class:`HierarchicalAttentionNetwork`).
        train: the HAN's optimisation.
        lr_grid: inverse regularisation strengths C tried for the logistic regression.
        threads: torch CPU threads.
        example: the chapter to draw if it is in test and classified correctly (else another).
        example_verses: verse counts of chapters eligible to be drawn, [lo, hi].
    """

    data: SectionsConfig = SectionsConfig()
    emb_dim: int = 200
    hidden_dim: int = 50
    attn_dim: int = 100
    dropout: float = 0.3
    train: ClassifierConfig = ClassifierConfig(epochs=10, batch_size=16, lr=2e-3, patience=3)
    lr_grid: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    threads: int = 2
    example: str = "Ps 23"
    example_verses: tuple[int, int] = (6, 16)


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


def _collate(vocab):
    def collate(chapters: Sequence[Chapter]):
        batch = encode_batch(chapters, vocab)
        return (batch.tokens, batch.sentence_lengths, batch.n_sentences), batch.labels
    return collate


def _padded_size(chapter: Chapter) -> int:
    return len(chapter.verses) * max(len(v) for v in chapter.verses)


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
    """
    tfidf_cls, lr_cls = _sklearn()
    start = time.perf_counter()
    vocabulary = [t for t in dataset.vocab.itos if t not in SPECIALS]
    vectorizer = tfidf_cls(analyzer=_words, vocabulary=vocabulary, sublinear_tf=True)
    x = {s: (vectorizer.fit_transform if s == "train" else vectorizer.transform)(dataset.splits[s])
         for s in ("train", "dev", "test")}
    y = {s: np.array([c.label for c in dataset.splits[s]]) for s in x}
    n = len(SECTIONS)
    best, dev_scores = None, {}
    for c in sorted(grid):
        model = lr_cls(C=c, max_iter=5000, random_state=seed).fit(x["train"], y["train"])
        m = classification_metrics(model.predict(x["dev"]), y["dev"], n)
        dev_scores[c] = m["accuracy"]
        if best is None or (m["accuracy"], m["macro_f1"]) > (best[1]["accuracy"], best[1]["macro_f1"]):
            best = (model, m, c)
    model, dev_metrics, c = best
    predicted = model.predict(x["test"])
    return {"C": c, "dev": dev_scores, "dev_accuracy": dev_metrics["accuracy"], "dev_macro_f1": dev_metrics["macro_f1"],
            "test": classification_metrics(predicted, y["test"], n), "test_predicted": predicted.tolist(),
            "seconds": time.perf_counter() - start, "features": len(vocabulary)}


def _pick_example(config: HANStudyConfig, test: Sequence[Chapter], probs: torch.Tensor) -> int:
    """Index of the test chapter to draw: ``config.example`` if classified correctly, else the
    most confidently correct chapter with a verse count in ``config.example_verses``, else the
    most confident correct one, else the first."""
    pred, conf = probs.argmax(-1), probs.max(-1).values
    correct = [i for i, c in enumerate(test) if int(pred[i]) == c.label]
    for i in correct:
        if test[i].ref == config.example:
            return i
    lo, hi = config.example_verses
    sized = [i for i in correct if lo <= len(test[i].verses) <= hi]
    pool = sized or correct
    return max(pool, key=lambda i: float(conf[i])) if pool else 0


@torch.no_grad()
def document_example(model: HierarchicalAttentionNetwork, chapter: Chapter, vocab, *,
                     max_verses: int = 16) -> DocumentExample:
    """The HAN's weights on `chapter`; at most `max_verses` verses are kept (the most attended,
    in chapter order) so the picture stays readable."""
    batch = encode_batch([chapter], vocab)
    out = model.eval()(batch.tokens, batch.sentence_lengths, batch.n_sentences)
    probs = torch.softmax(out.logits[0], -1)
    sw = out.sentence_weights[0].numpy()  # (S,)
    shown = sorted(np.argsort(-sw, kind="stable")[:max_verses].tolist())
    pred = int(probs.argmax())
    names = [s.name for s in SECTIONS]
    return DocumentExample(chapter.ref, [list(chapter.verses[i]) for i in shown], out.word_weights[0].numpy()[shown],
                           sw[shown], [i + 1 for i in shown], len(chapter.verses), names[chapter.label],
                           names[pred], float(probs[pred]))


def run_han_study(config: HANStudyConfig, out: str | Path, *, command: str = "", progress: bool = True,
                  read: Reader | None = None, render: Render | None = None) -> dict:
    """Run the study end to end and write its folder; returns the metrics written to ``metrics.json``.

    Args:
        config: the study's settings.
        out: run folder (created).
        command: the command line that ran the study, for the report.
        progress: show progress bars.
        read: SWORD module reader (default :func:`attnkit.data.sword.read_module`; tests pass a fake).
        render: draws a :class:`DocumentExample` into a PNG path; None = no picture.

    Raises:
        attnkit.data.sword.SwordError: if the SWORD module is missing or unreadable.
        StudyError: if scikit-learn is missing.
    """
    _sklearn()  # fail before training, not after
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, Path(out), command, progress, read, render)
    finally:
        torch.set_num_threads(threads)


def _run(config: HANStudyConfig, out: Path, command: str, progress: bool, read: Reader | None,
         render: Render | None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    dataset = build_dataset(config.data, read=read)
    dataset.save(out)
    log.info("%s: %s chapters (train %d, dev %d, test %d), vocabulary %d", config.data.module,
             dataset.counts["chapters"], *(len(dataset.splits[s]) for s in ("train", "dev", "test")),
             len(dataset.vocab))
    torch.manual_seed(config.data.seed)
    sizes = {"emb_dim": config.emb_dim, "hidden_dim": config.hidden_dim, "attn_dim": config.attn_dim,
             "dropout": config.dropout}
    model = HierarchicalAttentionNetwork(len(dataset.vocab), len(SECTIONS), **sizes, pad_id=dataset.vocab.pad_id)
    atomic_write_text(out / "han-config.json", json.dumps(
        {"model": "HierarchicalAttentionNetwork", "vocab_size": len(dataset.vocab), "n_classes": len(SECTIONS),
         **sizes, "pad_id": dataset.vocab.pad_id, "classes": [s.name for s in SECTIONS],
         "weights": "han.safetensors", "vocab": "vocab.json"}, indent=1))
    collate = _collate(dataset.vocab)
    trained = train_classifier(model, dataset.splits["train"], dataset.splits["dev"], collate, len(SECTIONS),
                               out / "han.safetensors", config=config.train, size=_padded_size,
                               progress=progress, label="HAN")
    test = dataset.splits["test"]
    probs, gold = predict(model, test, collate, batch_size=32, size=_padded_size)
    han_test = classification_metrics(probs.argmax(-1), gold, len(SECTIONS))
    baseline = logistic_regression_baseline(dataset, config.lr_grid, seed=config.data.seed)
    example = document_example(model, test[_pick_example(config, test, probs)], dataset.vocab)
    example.title = (f"{example.ref} ({config.data.module}): {example.gold}, predicted {example.predicted} "
                     f"(p = {example.probability:.2f})")
    if example.n_verses > len(example.sentences):
        example.title += f"; the {len(example.sentences)} most attended of {example.n_verses} verses"
    if render is not None:
        render(example, out / "han-example.png")
    best = trained.history[trained.best_epoch - 1]
    metrics = {
        "config": dataclasses.asdict(config), "command": command, "machine": machine_description(config.threads),
        "module": dataclasses.asdict(dataset.info), "counts": dataset.counts,
        "per_section": {s: dataset.per_section(s) for s in ("train", "dev", "test")},
        "unk_rate": {s: dataset.unk_rate(s) for s in ("dev", "test")},
        "han": {"test": han_test, "dev_accuracy": best["dev_accuracy"], "dev_macro_f1": best["dev_macro_f1"],
                "best_epoch": trained.best_epoch, "epochs_run": len(trained.history),
                "stopped_early": trained.stopped_early, "seconds": trained.seconds, "history": trained.history,
                "parameters": sum(p.numel() for p in model.parameters()),
                "test_predicted": probs.argmax(-1).tolist()},
        "logreg": baseline,
        "test_refs": [c.ref for c in test], "test_labels": [c.label for c in test],
        "example": {"ref": example.ref, "gold": example.gold, "predicted": example.predicted,
                    "probability": example.probability, "verses_shown": example.verse_numbers,
                    "n_verses": example.n_verses, "picture": "han-example.png" if render else None},
        "seconds": time.perf_counter() - start,
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1, ensure_ascii=False))
    write_report(out / "report.md", metrics)
    return metrics
