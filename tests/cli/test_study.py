"""``attnkit study han`` end to end on a tiny fake SWORD module, and its one-line errors."""

from __future__ import annotations

import json
import sys

import pytest

from attnkit.cli import main
from attnkit.data import sword
from attnkit.models.han import HierarchicalAttentionNetwork
from attnkit.tasks.bible_sections import SECTIONS
from attnkit.training import load_run

from ..tasks.test_bible_sections import fake_read


def test_study_han_runs_end_to_end_on_a_fake_module(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.setattr(sword, "read_module", fake_read)
    out = tmp_path / "han"
    code = main(["study", "han", "--module", "fakeWEB", "--out", str(out), "--epochs", "2", "--threads", "1",
                 "--seed", "5", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "report:" in capsys.readouterr().out
    for name in ("report.md", "metrics.json", "han-example.png", "han/config.yaml", "han/model.safetensors",
                 "han/metrics.jsonl", "han/vocab.json", "han/dataset.json", "han/data/test.jsonl"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["chapters"] == 132 and metrics["counts"]["left_out_chapters"] == 6
    assert len(metrics["han"]["history"]) == 2 and metrics["logreg"]["C"] in (1.0, 10.0, 100.0, 1000.0)
    for model in ("han", "logreg"):
        assert 0 <= metrics[model]["test"]["accuracy"] <= 1 and len(metrics[model]["test"]["per_class_accuracy"]) == 8
    report = (out / "report.md").read_text()
    assert "attnkit study han --module fakeWEB" in report and "--seed 5" in report
    assert "| HAN (emb 200" in report and "| logistic regression" in report and "](han-example.png)" in report
    assert (out / "han-example.png").read_bytes()[:4] == b"\x89PNG"
    run = load_run(out / "han")  # the HAN is a normal run: it loads, evaluates and predicts like any other
    assert isinstance(run.model, HierarchicalAttentionNetwork)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out / "han"), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["accuracy"] == metrics["han"]["test"]["accuracy"]
    assert main(["predict", "--model", str(out / "han"), "The Lord is my shepherd; I shall not want.",
                 "--attention-plot", str(tmp_path / "doc.png")]) == 0
    assert capsys.readouterr().out.strip() in [s.name for s in SECTIONS]
    assert (tmp_path / "doc.png").read_bytes()[:4] == b"\x89PNG"


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
    assert code == 1 and len(err.strip().splitlines()) == 1 and "attnkit[study]" in err
