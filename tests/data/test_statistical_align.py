"""eflomal on a small corpus folder: links of every line, both directions, symmetrised, in the manifest."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from attnkit.data.statistical_align import AlignerError, align_corpus
from attnkit.evaluation.alignment import alignment_error_rate, read_pharaoh, symmetrise

from ..tasks.test_aligned_translation import write_aligned_corpus


def test_eflomal_aligns_every_split_and_records_the_files(tmp_path):
    pytest.importorskip("eflomal")
    corpus = write_aligned_corpus(tmp_path / "c", n_train=200, n_dev=20, n_test=20)
    for split in ("train", "dev", "test"):
        (corpus / f"{split}.eflomal.pharaoh").unlink()  # the toy's true links; eflomal writes its own
    (corpus / "manifest.json").write_text(json.dumps({"files": {}}), encoding="utf-8")
    section = align_corpus(corpus, n_samplers=1)
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["statistical_aligner"]["aligner"] == "eflomal" and section["sentences"] == 240
    for name in section["files"]:
        assert hashlib.sha256((corpus / name).read_bytes()).hexdigest() == manifest["files"][name]
    for split, n in (("train", 200), ("dev", 20), ("test", 20)):
        sym, fwd, rev = (
            read_pharaoh(corpus / f"{split}.{kind}.pharaoh") for kind in ("eflomal", "eflomal-fwd", "eflomal-rev")
        )
        assert len(sym) == len(fwd) == len(rev) == n
        src = (corpus / f"{split}.src").read_text(encoding="utf-8").splitlines()
        tgt = (corpus / f"{split}.tgt").read_text(encoding="utf-8").splitlines()
        for links, f, r, s, t in zip(sym, fwd, rev, src, tgt):
            assert all(i < len(s.split()) and j < len(t.split()) for i, j in links | f | r)
            assert links == symmetrise(f, r, "grow-diag-final-and", n_source=len(s.split()), n_target=len(t.split()))
    # digit words are a one-to-one lexicon: the aligner should find most of it
    score = alignment_error_rate(
        read_pharaoh(corpus / "test.eflomal.pharaoh"), read_pharaoh(corpus / "test.gold.pharaoh")
    )
    assert score.aer < 0.2


def test_missing_eflomal_or_corpus_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(AlignerError, match="build the corpus first"):
        align_corpus(tmp_path)
    monkeypatch.setitem(sys.modules, "eflomal", None)
    with pytest.raises(AlignerError, match="pip install eflomal"):
        align_corpus(tmp_path)
    with pytest.raises(ValueError, match="unknown symmetrisation"):
        align_corpus(tmp_path, symmetrisation="grow")
