"""``attnkit study han`` end to end on a tiny fake SWORD module, and its one-line errors."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from attnkit.cli import main
from attnkit.data import sword
from attnkit.data.bible_sections import SECTIONS
from attnkit.models.han import HierarchicalAttentionNetwork
from attnkit.training import load_run

from ..data.test_bible_sections import fake_read


def _accuracy(predicted: list[int], labels: list[int], label: int | None = None) -> float:
    pairs = [(p, g) for p, g in zip(predicted, labels) if label is None or g == label]
    return sum(p == g for p, g in pairs) / len(pairs)


def test_study_han_runs_end_to_end_on_a_fake_module(tmp_path, monkeypatch, capsys):
    """The fake Bible names each chapter's section by one keyword in one verse: both models must
    learn it, the reported numbers must be those of the saved predictions, and the saved HAN
    must find the keyword with both levels of attention."""
    pytest.importorskip("sklearn")
    monkeypatch.setattr(sword, "read_module", fake_read)
    out = tmp_path / "han"
    code = main(
        [
            "study",
            "han",
            "--module",
            "fakeWEB",
            "--out",
            str(out),
            "--epochs",
            "8",
            "--threads",
            "1",
            "--seed",
            "5",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f"report: {out / 'report.md'}" in printed.out
    for name in (
        "report.md",
        "metrics.json",
        "han-example.png",
        "han/config.yaml",
        "han/model.safetensors",
        "han/metrics.jsonl",
        "han/vocab.json",
        "han/dataset.json",
        "han/data/test.jsonl",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["chapters"] == 132 and metrics["counts"]["left_out_chapters"] == 6
    assert metrics["han"]["epochs_run"] == len(metrics["han"]["history"]) <= 8
    assert metrics["logreg"]["C"] in (1.0, 10.0, 100.0, 1000.0)

    # the gold label of each test chapter is the section of its book, as dataset.json lists them
    sections = json.loads((out / "han" / "dataset.json").read_text())["sections"]
    section_of = {book: i for i, books in enumerate(sections.values()) for book in books}
    refs, labels = metrics["test_refs"], metrics["test_labels"]
    assert labels == [section_of[ref.split()[0]] for ref in refs] and len(refs) == 13
    report = (out / "report.md").read_text()
    for model, name, row in (
        ("han", "HAN", "| HAN (emb 200"),
        ("logreg", "logistic regression", "| logistic regression"),
    ):
        predicted = metrics[model]["test_predicted"]
        accuracy = _accuracy(predicted, labels)  # recomputed from the saved predictions
        assert accuracy >= 0.9, (model, accuracy)  # a keyword per chapter: both models learn it
        test = metrics[model]["test"]
        assert test["accuracy"] == pytest.approx(accuracy) and test["n"] == len(labels)
        assert test["per_class_accuracy"] == pytest.approx([_accuracy(predicted, labels, c) for c in range(8)])
        assert f"{name} {accuracy:.2%}" in printed.out  # the printed summary line
        table_row = next(line for line in report.splitlines() if line.startswith(row))
        assert f"| {100 * accuracy:.1f} % |" in table_row
    assert "attnkit study han --module fakeWEB" in report and "--seeds 5" in report and "](han-example.png)" in report
    # --seed and --epochs still work, each with a one-line warning
    assert "--seed is deprecated for studies; use --seeds 5" in printed.err
    assert "--epochs is deprecated; use --budget" in printed.err
    assert (out / "han-example.png").read_bytes()[:4] == b"\x89PNG"

    # the HAN is a normal run: it loads, evaluates and predicts like any other
    run = load_run(out / "han")
    model, vocab = run.model, run.task.vocab
    assert isinstance(model, HierarchicalAttentionNetwork)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "han"), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == metrics["han"]["test"]["accuracy"]
    assert (
        main(
            [
                "predict",
                "--model",
                str(out / "han"),
                "The Lord is my shepherd; I shall not want.",
                "--top-k",
                "0",
                "--attention-plot",
                str(tmp_path / "doc.png"),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() in [s.name for s in SECTIONS]
    assert (tmp_path / "doc.png").read_bytes()[:4] == b"\x89PNG"
    # on new chapters it finds the keyword verse and word
    g = torch.Generator().manual_seed(0)
    found_verse = found_word = right = 0
    for label in range(8):
        where = label % 4  # the keyword verse
        verses = [[f"word{int(i)}" for i in torch.randint(40, (5,), generator=g)] for _ in range(4)]
        verses[where].insert(2, f"keyword{label}")
        tokens = torch.full((1, 4, 6), vocab.pad_id)
        for v, words in enumerate(verses):
            tokens[0, v, : len(words)] = torch.tensor(vocab.encode(words))
        with torch.no_grad():
            got = model.eval()(tokens, torch.tensor([[len(v) for v in verses]]), torch.tensor([4]))
        right += int(got.logits.argmax()) == label
        found_verse += int(got.sentence_weights[0].argmax()) == where
        found_word += int(got.word_weights[0, where].argmax()) == 2
    # nearly always the right section (a short training: one miss in 8 is allowed), and most of
    # the time the attention lands on the keyword's verse and on the keyword itself
    assert right >= 7 and found_verse >= 6 and found_word >= 6, (right, found_verse, found_word)


def test_missing_module_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    empty = tmp_path / "sword"
    empty.mkdir()
    monkeypatch.setenv("SWORD_PATH", str(empty))
    monkeypatch.setattr(sword, "sword_paths", lambda: [empty])  # hide ~/.sword and /usr/share/sword too
    code = main(["study", "han", "--module", "engWEB2015eb", "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "apt-get install sword-text-web" in err
    assert "Traceback" not in err


def test_missing_scikit_learn_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")] + ["sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)  # makes `import sklearn...` fail
    monkeypatch.setattr(sword, "read_module", fake_read)
    code = main(["study", "han", "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "pip install scikit-learn" in err
