"""The Markdown report of the HAN study (:mod:`attnkit.studies.han`), written from its
``metrics.json`` dictionary, and a description of the machine it ran on."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import torch

from ..data.bible_sections import SECTIONS
from ..io import atomic_write_text
from ..machine import cpu_model

__all__ = ["machine_description", "write_report", "render_report"]


def machine_description(threads: int) -> dict:
    """CPU model, logical cores, torch threads used, torch and Python versions, OS."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "system": platform.system(),
    }


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _results(m: dict) -> list[str]:
    han, lr, cfg = m["han"], m["logreg"], m["config"]
    n_test = han["test"]["n"]
    lines = [
        f"## Results on the test split ({n_test} chapters)",
        "",
        "| model | test accuracy | test macro-F1 | dev accuracy | size | training time |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
        f"| HAN (emb {cfg['emb_dim']}, GRU {cfg['hidden_dim']} per direction, attention {cfg['attn_dim']}) | "
        f"{_pct(han['test']['accuracy'])} | {100 * han['test']['macro_f1']:.1f} | {_pct(han['dev_accuracy'])} | "
        f"{han['parameters']:,} parameters | {han['seconds']:.0f} s ({han['epochs_run']} epochs) |",
        f"| logistic regression, TF-IDF bag of words (C = {lr['C']:g}) | {_pct(lr['test']['accuracy'])} | "
        f"{100 * lr['test']['macro_f1']:.1f} | {_pct(lr['dev_accuracy'])} | {lr['features']:,} features | "
        f"{lr['seconds']:.0f} s (grid of {len(lr['dev'])}) |",
        "",
    ]
    diff = han["test"]["accuracy"] - lr["test"]["accuracy"]
    f1_diff = han["test"]["macro_f1"] - lr["test"]["macro_f1"]
    verdict = "beats" if diff > 0 else "ties with" if diff == 0 else "falls short of"
    wrong = {
        "han": n_test - round(han["test"]["accuracy"] * n_test),
        "lr": n_test - round(lr["test"]["accuracy"] * n_test),
    }
    lines += [
        f"The HAN {verdict} the baseline by {100 * abs(diff):.1f} accuracy points "
        f"({wrong['han']} vs {wrong['lr']} of {n_test} test chapters wrong); macro-F1 difference (HAN − LR): "
        f"{100 * f1_diff:+.1f} points. With {n_test} test chapters one chapter is "
        f"{100 / n_test:.1f} points.",
        "",
        "Per-section test accuracy (share of the section's chapters classified correctly):",
        "",
        "| section | books | test chapters | HAN | LR |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    per_test = m["per_section"]["test"]
    for i, s in enumerate(SECTIONS):
        books = f"{s.books[0]}–{s.books[-1]}"
        lines.append(
            f"| {s.name} | {books} ({len(s.books)}) | {per_test[i]} | "
            f"{_pct(han['test']['per_class_accuracy'][i])} | {_pct(lr['test']['per_class_accuracy'][i])} |"
        )
    return lines + [
        "",
        "Test chapters classified wrongly (→ predicted section):",
        "",
        f"- HAN: {_mistakes(m, han['test_predicted'])}",
        f"- LR: {_mistakes(m, lr['test_predicted'])}",
        "",
    ]


def _mistakes(m: dict, predicted: list[int]) -> str:
    """The wrongly classified test chapters as "Ref → predicted section", comma-separated."""
    names = [s.name for s in SECTIONS]
    wrong = [f"{ref} → {names[p]}" for ref, p, g in zip(m["test_refs"], predicted, m["test_labels"]) if p != g]
    return ", ".join(wrong) or "none"


def _data(m: dict) -> list[str]:
    c, d, mod = m["counts"], m["config"]["data"], m["module"]
    lines = [
        "## Data",
        "",
        f"SWORD module `{mod['name']}` version {mod['version']} ({mod['date']}), {mod['versification']} "
        f"versification, language `{mod['language']}`. Documents are chapters, sentences verses, words "
        "lower-cased runs of letters and digits (apostrophes inside words kept); labels are the eight "
        "sections below (`attnkit.data.bible_sections`).",
        "",
        f"- {c['chapters']:,} chapters of the 66 protocanonical books, {c['verses']:,} verses, {c['words']:,} "
        f"words; {c['left_out_chapters']} chapters of {c['left_out_books']} other books (deuterocanon) "
        f"left out; {c['empty_verses']} empty verse slots dropped.",
        f"- Caps: at most {d['max_verses']} verses per chapter ({c['cut_verses']:,} verses cut from "
        f"{c['capped_chapters']} chapters) and {d['max_words']} words per verse ({c['cut_words']:,} words cut "
        f"from {c['capped_verses']} verses); both models see the capped text.",
        f"- Split: stratified by section, seed {d['seed']}, {1 - d['dev_fraction'] - d['test_fraction']:.0%} / "
        f"{d['dev_fraction']:.0%} / {d['test_fraction']:.0%} of each section: {c['train_chapters']} train, "
        f"{c['dev_chapters']} dev, {c['test_chapters']} test chapters (by chapter, so other chapters of "
        "a test chapter's book are in train).",
        f"- Vocabulary: the {c['vocab']:,} ids of the words seen at least {d['min_freq']} times in train "
        f"(with `<pad>`, `<unk>`); unknown words: {_pct(m['unk_rate']['dev'])} of dev, "
        f"{_pct(m['unk_rate']['test'])} of test tokens.",
        "",
        "| split | " + " | ".join(s.name for s in SECTIONS) + " | all |",
        "| --- |" + " ---: |" * (len(SECTIONS) + 1),
    ]
    for split in ("train", "dev", "test"):
        counts = m["per_section"][split]
        lines.append(f"| {split} | " + " | ".join(str(x) for x in counts) + f" | {sum(counts)} |")
    return lines + [""]


def _setup(m: dict) -> list[str]:
    cfg, t, lr, mach = m["config"], m["config"]["train"], m["logreg"], m["machine"]
    grid = ", ".join(f"C = {float(c):g}: {_pct(a)}" for c, a in lr["dev"].items())
    return [
        "## Setup",
        "",
        f"- HAN [Yang16]: word embeddings {cfg['emb_dim']} (learned from scratch), bidirectional GRUs of "
        f"{cfg['hidden_dim']} per direction at both levels, attention width {cfg['attn_dim']}, dropout "
        f"{cfg['dropout']} on embeddings and the document vector. Adam, learning rate {t['lr']:g}, weight "
        f"decay {t['weight_decay']:g}, gradient norm clipped at {t['clip_norm']:g}, batches of "
        f"{t['batch_size']} chapters bucketed by size (one trainer, `attnkit train`), at most {t['epochs']} "
        "epochs, early stop after "
        f"{t['patience']} epochs without a better dev accuracy; the weights of the best dev epoch "
        f"({m['han']['best_epoch']}) are kept. Seed {t['seed']}.",
        f"- Baseline: scikit-learn [Pedregosa11] `LogisticRegression` (L2, lbfgs, multinomial) on sublinear "
        f"TF-IDF over the same vocabulary and tokens; C chosen on dev ({grid}).",
        f"- Machine: {mach['cpu']}, {mach['cores']} logical cores, torch threads: {mach['threads']}, torch "
        f"{mach['torch']}, Python {mach['python']}; the whole study took {m['seconds']:.0f} s.",
        "",
    ]


def _history(m: dict) -> list[str]:
    lines = [
        "## HAN training",
        "",
        "| epoch | train loss (last batch) | dev accuracy | dev macro-F1 | seconds |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in m["han"]["history"]:
        mark = " (best)" if row["epoch"] == m["han"]["best_epoch"] else ""
        lines.append(
            f"| {row['epoch']}{mark} | {row['train_loss']:.4f} | {_pct(row['dev_accuracy'])} | "
            f"{100 * row['dev_macro_f1']:.1f} | {row['seconds']:.0f} |"
        )
    return lines + [""]


def _example(m: dict, picture: str | None) -> list[str]:
    ex = m["example"]
    shown = len(ex["verses_shown"])
    which = (
        f"all {ex['n_verses']} verses"
        if shown == ex["n_verses"]
        else f"the {shown} most attended of its {ex['n_verses']} verses"
    )
    lines = [
        "## Where the HAN looks",
        "",
        f"Test chapter {ex['ref']} ({ex['gold']}), predicted {ex['predicted']} with probability "
        f"{ex['probability']:.2f}; {which}. Each line is a verse: the blue box is the verse's "
        "sentence-level weight, the red shading each word's word-level weight within its verse "
        "(lines longer than 24 words end with …).",
        "",
    ]
    if picture:
        lines += [f"![HAN attention on {ex['ref']}]({picture})", ""]
    return lines


def render_report(m: dict, *, picture: str | None = "han-example.png") -> str:
    """The report as Markdown; `picture` is the example image's path relative to the report."""
    head = [
        "# Hierarchical Attention Network vs bag-of-words logistic regression: Bible chapters by section of the canon",
        "",
        f"Measured {datetime.date.today()} with:",
        "",
        "```bash",
        m["command"] or "(library call)",
        "```",
        "",
    ]
    refs = [
        "## References",
        "",
        "- [Yang16] Z. Yang, D. Yang, C. Dyer, X. He, A. Smola, E. Hovy. Hierarchical Attention Networks "
        "for Document Classification. NAACL 2016. ACL Anthology N16-1174.",
        "- [Pedregosa11] F. Pedregosa et al. Scikit-learn: Machine Learning in Python. JMLR 12, 2011.",
        "",
    ]
    body = head + _results(m) + _data(m) + _setup(m) + _history(m)
    body += _example(m, picture if m["example"]["picture"] else None) + refs
    return "\n".join(body)


def write_report(path: str | Path, m: dict, *, picture: str | None = "han-example.png") -> None:
    """Write :func:`render_report` to `path` atomically."""
    atomic_write_text(path, render_report(m, picture=picture))
