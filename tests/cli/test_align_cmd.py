"""``attnkit data alignments``, ``attnkit align`` and ``attnkit evaluate --gold/--links/--choose`` through ``main``."""

from __future__ import annotations

import json

import pytest

from attnkit.cli import data_alignments, main
from attnkit.data import alignments
from attnkit.evaluation.alignment import alignment_error_rate, read_pharaoh

from ..data.test_alignments import _tables
from ..tasks.test_aligned_translation import write_aligned_corpus
from .test_data_cmd import one_line_error


def test_data_alignments_builds_the_corpus_and_the_aligner_links(tmp_path, monkeypatch, capsys):
    pytest.importorskip("eflomal")
    (tmp_path / "pkg").mkdir()
    files = _tables(tmp_path / "pkg", verses=range(1, 150))
    monkeypatch.setattr(data_alignments, "find_package", lambda: files)
    out = tmp_path / "corpus"
    args = ["data", "alignments", "--out", str(out), "--n-dev", "10", "--n-test", "20"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "150 segments (1 of merged verses)" in text and "120 train, 10 gold dev, 20 gold test verses" in text
    assert "eflomal" in text
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["statistical_aligner"]["symmetrisation"] == "grow-diag-final-and"
    assert len(read_pharaoh(out / "test.eflomal.pharaoh")) == 20 == len(read_pharaoh(out / "test.gold.pharaoh"))
    assert main(args) == 0
    assert "up to date" in capsys.readouterr().out
    assert (
        main(
            ["evaluate", "--links", str(out / "test.gold.pharaoh"), "--gold", str(out / "test.gold.pharaoh"), "--json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["aer"] == 0.0


def test_a_missing_package_is_one_line_with_the_install_command(tmp_path, monkeypatch, capsys):
    def missing(name):
        raise alignments.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(alignments.importlib.metadata, "distribution", missing)
    assert main(["data", "alignments", "--out", str(tmp_path / "c")]) == 1
    line = one_line_error(capsys)
    assert line.startswith("attnkit data: error: the Python package bible-alignments is not installed")
    assert "pip install --no-deps bible-alignments" in line and not (tmp_path / "c").exists()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A forward and a reverse tiny Transformer on the toy aligned corpus, trained through main."""
    tmp = tmp_path_factory.mktemp("align")
    corpus = write_aligned_corpus(tmp / "corpus", n_train=200)
    out = {}
    for name, extra in (("fwd", ""), ("rev", ", reverse: true")):
        cfg = tmp / f"{name}.yaml"
        cfg.write_text(
            f"data: {{task: aligned-translation, corpus: {corpus}, vocab_size: 40, max_source_len: 40, "
            f"guided_weight: 1.0, guided_layer: -1{extra}}}\n"
            "model: {arch: transformer, d_model: 16, n_heads: 2, enc_layers: 1, dec_layers: 1, d_ff: 32,"
            " dropout: 0.0}\n"
            "train: {max_steps: 60, batch_tokens: 300, lr: 0.01, eval_every: 60, threads: 1}\n",
            encoding="utf-8",
        )
        assert main(["train", str(cfg), "--out", str(tmp / name), "--no-progress"]) == 0
        out[name] = tmp / name
    out["corpus"] = corpus
    return out


def test_choose_on_dev_then_evaluate_and_align(runs, tmp_path, capsys):
    fwd, rev, corpus = str(runs["fwd"]), str(runs["rev"]), runs["corpus"]
    capsys.readouterr()
    assert main(["evaluate", "--model", fwd, "--split", "dev", "--choose"]) == 0
    text = capsys.readouterr().out
    assert "| layer | head |" in text and "kept in" in text
    choice = json.loads((runs["fwd"] / "alignment.json").read_text())["choice"]
    assert choice["layer"] == -1
    assert main(["evaluate", "--model", fwd, "--gold", str(corpus / "test.gold.pharaoh"), "--json"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert 0.0 <= score["aer"] <= 1.0 and score["n_sentences"] == 30
    links = tmp_path / "links.pharaoh"
    assert (
        main(
            [
                "align",
                "--model",
                fwd,
                "--input",
                str(corpus / "test.src"),
                "--target",
                str(corpus / "test.tgt"),
                "--output",
                str(links),
            ]
        )
        == 0
    )
    predicted = read_pharaoh(links)
    gold = read_pharaoh(corpus / "test.gold.pharaoh")
    assert alignment_error_rate(predicted, gold).aer == pytest.approx(score["aer"])  # align = evaluate's links
    picture = tmp_path / "verse.png"
    assert (
        main(
            [
                "align",
                "--model",
                fwd,
                "--input",
                str(corpus / "test.src"),
                "--target",
                str(corpus / "test.tgt"),
                "--output",
                str(links),
                "--gold",
                str(corpus / "test.gold.pharaoh"),
                "--plot",
                str(picture),
                "--plot-line",
                "2",
            ]
        )
        == 0
    )
    assert picture.stat().st_size > 0
    both = tmp_path / "both.pharaoh"
    assert (
        main(
            [
                "align",
                "--model",
                fwd,
                "--reverse",
                rev,
                "--input",
                str(corpus / "test.src"),
                "--target",
                str(corpus / "test.tgt"),
                "--output",
                str(both),
                "--symmetrisation",
                "intersection",
            ]
        )
        == 0
    )
    assert all(b <= p for b, p in zip(read_pharaoh(both), predicted))  # the intersection keeps fewer links
    assert main(["evaluate", "--model", fwd, "--reverse", rev, "--gold", str(corpus / "test.gold.pharaoh")]) == 0
    assert "grow-diag-final-and" in capsys.readouterr().out


def test_alignment_usage_errors_are_one_line(runs, tmp_path, capsys):
    fwd, corpus = str(runs["fwd"]), runs["corpus"]
    capsys.readouterr()
    assert main(["evaluate", "--model", fwd, "--split", "test", "--choose"]) == 2
    assert "--split dev" in one_line_error(capsys)
    (tmp_path / "one.txt").write_text("uno dos\n", encoding="utf-8")
    assert (
        main(
            [
                "align",
                "--model",
                fwd,
                "--input",
                str(corpus / "test.src"),
                "--target",
                str(tmp_path / "one.txt"),
                "--output",
                str(tmp_path / "x"),
            ]
        )
        == 1
    )
    assert "has 30 lines but" in one_line_error(capsys)
    assert main(["evaluate", "--model", fwd, "--gold", str(tmp_path / "one.txt")]) == 1
    assert "is not a link" in one_line_error(capsys)
    assert main(["evaluate", "--links", str(corpus / "test.gold.pharaoh")]) == 2
    assert "--links LINKS --gold GOLD" in one_line_error(capsys)
    assert main(["evaluate"]) == 2
    assert "give --model RUN" in one_line_error(capsys)
    assert main(["evaluate", "--model", fwd, "--source", str(corpus / "test.src"), "--choose", "--split", "dev"]) == 2
    assert "--source, --target and --gold together" in one_line_error(capsys)
