"""``attnkit evaluate/align --explain NAME``: word alignments read from explanations beyond raw attention."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from attnkit.cli import main
from attnkit.decoding import explained_weights, forced_weights
from attnkit.evaluation.alignment import alignment_error_rate, read_pharaoh
from attnkit.training import load_run

from ..tasks.test_aligned_translation import write_aligned_corpus


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny Transformer (2 decoder layers) on the toy aligned corpus, trained through main."""
    tmp = tmp_path_factory.mktemp("explain-align")
    corpus = write_aligned_corpus(tmp / "corpus", n_train=200)
    cfg = tmp / "fwd.yaml"
    cfg.write_text(
        f"data: {{task: aligned-translation, corpus: {corpus}, vocab_size: 40, max_source_len: 40}}\n"
        "model: {arch: transformer, d_model: 16, n_heads: 2, enc_layers: 1, dec_layers: 2, d_ff: 32, dropout: 0.0}\n"
        "train: {max_steps: 30, batch_tokens: 300, lr: 0.01, eval_every: 30, threads: 1}\n",
        encoding="utf-8",
    )
    assert main(["train", str(cfg), "--out", str(tmp / "fwd"), "--no-progress"]) == 0
    return tmp / "fwd", corpus


def test_explain_attention_is_the_raw_attention_path(run, capsys):
    path, corpus = run
    capsys.readouterr()
    gold = str(corpus / "test.gold.pharaoh")
    assert main(["evaluate", "--model", str(path), "--gold", gold, "--json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--model", str(path), "--gold", gold, "--json", "--explain", "attention"]) == 0
    assert json.loads(capsys.readouterr().out) == raw


def test_choose_with_an_explanation_sweeps_layers_and_the_aggregate_and_keeps_nothing(run, capsys):
    path, _ = run
    capsys.readouterr()
    assert main(["evaluate", "--model", str(path), "--split", "dev", "--choose", "--explain", "alti", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["explain"] == "alti"
    assert {r["layer"] for r in out["results"]} == {-3, -2, -1}  # 2 decoder layers, then the aggregate
    assert {r["head"] for r in out["results"]} == {"mean"}
    assert not (path / "alignment.json").exists()
    assert main(["evaluate", "--model", str(path), "--explain", "rollout", "--layer", "-1"]) == 0  # the saved gold
    text = capsys.readouterr().out
    assert "explanation rollout" in text and "AER:" in text


@pytest.mark.parametrize("name", ["rollout", "norm", "grad"])
def test_align_with_an_explanation_writes_the_links_evaluate_scores(run, tmp_path, capsys, name):
    path, corpus = run
    links = tmp_path / "links.pharaoh"
    argv = ["--model", str(path), "--explain", name, "--layer", "-1"]
    files = ["--input", str(corpus / "test.src"), "--target", str(corpus / "test.tgt"), "--output", str(links)]
    assert main(["align", *argv, *files]) == 0
    capsys.readouterr()
    assert main(["evaluate", *argv, "--gold", str(corpus / "test.gold.pharaoh"), "--json"]) == 0
    score = json.loads(capsys.readouterr().out)
    assert alignment_error_rate(read_pharaoh(links), read_pharaoh(corpus / "test.gold.pharaoh")).aer == pytest.approx(
        score["aer"]
    )


def test_explained_weights_layout(run):
    path, _ = run
    model = load_run(path).model
    pairs = [([4, 5, 6], [7, 8]), ([9, 10], [11, 12, 13])]
    raw = forced_weights(model, pairs)
    assert all(torch.equal(a, b) for a, b in zip(explained_weights(model, pairs, "attention"), raw))
    for name, n_layers in (("rollout", 1), ("norm", 2), ("alti", 3), ("grad", 3), ("flow", 1)):
        maps = explained_weights(model, pairs, name)
        assert [tuple(m.shape) for m in maps] == [(n_layers, 1, 2, 3), (n_layers, 1, 3, 2)], name
        for m in maps:
            sums = m.sum(-1)
            assert torch.isfinite(m).all() and ((sums - 1).abs() < 1e-5).logical_or(sums == 0).all(), name


def test_explanations_need_a_transformer_and_a_known_name(run, capsys):
    with pytest.raises(ValueError, match="Transformer encoder-decoder"):
        explained_weights(nn.Linear(2, 2), [([1], [2])], "alti")
    with pytest.raises(ValueError, match="choose one of"):
        explained_weights(nn.Linear(2, 2), [([1], [2])], "lime")
    path, _ = run
    assert main(["evaluate", "--model", str(path), "--explain", "lime"]) == 2
    assert "invalid choice: 'lime'" in capsys.readouterr().err


def test_list_names_the_explanations_with_their_papers(capsys):
    assert main(["list", "explanations"]) == 0
    out = capsys.readouterr().out
    for name in ("attention", "rollout", "flow", "norm", "alti", "grad"):
        assert f"  {name} " in out
    assert "arXiv:2203.04212" in out and "arXiv:2004.10102" in out and "arXiv:2103.15679" in out


def test_a_model_that_declares_no_explanations_is_a_usage_error(run, monkeypatch, capsys):
    import dataclasses

    from attnkit.cli import align_cmd

    path, corpus = run
    real = load_run(path)
    caps = dataclasses.replace(real.capabilities, model=dataclasses.replace(real.capabilities.model, explains=False))
    monkeypatch.setattr(align_cmd, "load_run", lambda *a, **k: dataclasses.replace(real, capabilities=caps))
    assert main(["evaluate", "--model", str(path), "--explain", "alti"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "declares no explanations" in err[0] and "leave out --explain" in err[0]
