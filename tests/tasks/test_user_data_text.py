"""``text-classification`` on a TSV the test writes: train, evaluate and predict through the CLI;
the documents the run keeps follow the documented sentence and word rules; given dev and test
files are used as they are; a malformed line is a one-line error naming the file and the line."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from attnkit.cli import main
from attnkit.data.bible_sections import read_chapters

FOOD = "bread soup cook salt pepper bake dinner taste sweet fruit".split()
SPORT = "ball goal team match player score win run kick coach".split()

CONFIG = """\
data:
  task: text-classification
  train: {train}
model:
  arch: han
  emb_dim: 8
  hidden_dim: 4
  attn_dim: 4
train:
  batch_size: 8
  eval_every: 4
  max_steps: 8
  threads: 1
  seed: 1
"""


def _write_tsv(path: Path, n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label, words = ("sport", SPORT) if i % 2 else ("food", FOOD)
        sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) for _ in range(rng.randint(1, 3))]
        rows.append((label, "! ".join(s.capitalize() for s in sentences) + "."))
    path.write_text("".join(f"{y}\t{t}\n" for y, t in rows), encoding="utf-8")
    return rows


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err, err
    return err.splitlines()[-1]


def test_text_classification_from_a_tsv_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = _write_tsv(tmp_path / "texts.tsv", 40)
    (tmp_path / "text.yaml").write_text(CONFIG.format(train="texts.tsv"))
    assert main(["train", "text.yaml", "--out", "run", "--no-progress"]) == 0
    capsys.readouterr()
    # the run keeps each line as a document: sentences cut after "!" or "." and white space, words
    # lower-cased (the rule written out here, not the code's)
    by_line = {i + 1: row for i, row in enumerate(rows)}
    docs = {s: read_chapters(tmp_path / "run" / "data" / f"{s}.jsonl") for s in ("train", "dev", "test")}
    assert sum(map(len, docs.values())) == 40 and len(docs["test"]) == 4  # 10 % of each label's 20
    for doc in docs["test"] + docs["train"][:5]:
        label, text = by_line[doc.chapter]
        expected = [tuple(re.findall(r"\w+", s.lower())) for s in re.split(r"(?<=[.!])\s+", text)]
        assert doc.verses == tuple(expected) and ["food", "sport"][doc.label] == label
    assert main(["evaluate", "--model", "run", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 4 and metrics["classes"] == ["food", "sport"]
    assert main(["predict", "--model", "run", "I bake bread. The soup is sweet.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["kind"] == "document" and out["output"] in ("food", "sport")


def test_given_dev_and_test_files_are_used_as_they_are(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write_tsv(tmp_path / "train.tsv", 12, seed=1)
    _write_tsv(tmp_path / "dev.tsv", 3, seed=2)
    _write_tsv(tmp_path / "test.tsv", 5, seed=3)
    (tmp_path / "text.yaml").write_text(CONFIG.format(train="train.tsv"))
    args = ["--set", "data.dev=dev.tsv", "--set", "data.test=test.tsv", "--set", "train.max_steps=1"]
    assert main(["train", "text.yaml", "--out", "run", "--no-progress", *args]) == 0
    sizes = {s: len(read_chapters(tmp_path / "run" / "data" / f"{s}.jsonl")) for s in ("train", "dev", "test")}
    assert sizes == {"train": 12, "dev": 3, "test": 5}
    (tmp_path / "test.tsv").write_text("food\tsoup.\nchess\tcheck mate.\n")
    assert main(["train", "text.yaml", "--out", "run2", "--no-progress", *args]) == 2
    assert "test.tsv:2: label 'chess' has no training example" in _error_line(capsys)


@pytest.mark.parametrize(
    "content, message",
    [
        ("food\tsoup.\nsport ball goal\n", "texts.tsv:2: 1 tab-separated field, expected LABEL<TAB>TEXT"),
        ("food\tsoup.\n\nsport\t...\n", "texts.tsv:3: the text has no words"),
        ("food\tsoup.\n\t ball\n", "texts.tsv:2: the label field is empty"),
        (b"food\tsoup.\nsport\tb\xe4ll\n", "texts.tsv:2: not UTF-8 text"),
    ],
)
def test_a_malformed_line_is_one_line_naming_the_file_and_line(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "texts.tsv"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (tmp_path / "text.yaml").write_text(CONFIG.format(train="texts.tsv"))
    assert main(["train", "text.yaml", "--out", "run", "--no-progress"]) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "run").exists()
