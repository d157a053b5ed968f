"""The bible-alignments reader on small tables of the package's layout, written in the test."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json

import pytest

from attnkit.data import alignments
from attnkit.data.alignments import (
    AlignmentDataError,
    AlignmentPackageMissing,
    PackageFiles,
    build_alignment_corpus,
    find_package,
    read_aligned_verses,
)
from attnkit.evaluation.alignment import read_pharaoh

SRC_HEAD = "id\taltId\ttext\tstrongs\tgloss\tgloss2\tlemma\tpos\tmorph\n"
TGT_HEAD = "id\tsource_verse\ttext\tskip_space_after\texclude\tid_range_end\tsource_verse_range_end\n"


def _tables(tmp_path, verses=(), extra_records=()):
    """Two hand-made verses (Matt 1:1-2) where a record links 1:2's last Greek word to a target
    token the table files under 1:1, plus `verses` simple one-word verses (ids 40002vvv)."""
    src = [
        ("n40001001001", "Βίβλος"),
        ("n40001001002", "γενέσεως"),
        ("n40001002001", "Ἀβραὰμ"),
        ("n40001002002", "ἐγέννησεν"),
    ]
    tgt = [  # id, source verse, text, skip_space_after, exclude
        ("40001001001", "40001001", "The", "", ""),
        ("40001001002", "40001001", "book", "y", ""),
        ("40001001003", "40001001", ",", "", "y"),
        ("40001001004", "40001001", "“", "y", "y"),
        ("40001001005", "40001001", "begot", "y", ""),
        ("40001001006", "40001001", "”", "", "y"),
        ("40001002001", "40001002", "Abraham", "y", ""),
        ("40001002002", "40001002", ".", "", "y"),
    ]
    records = [
        (["n40001001001"], ["40001001001", "40001001002"]),
        (["n40001002001"], ["40001002001"]),
        (["n40001002002"], ["40001001005"]),
    ]  # across the verse boundary
    for v in verses:
        src.append((f"n40002{v:03d}001", f"λόγος{v}"))
        tgt.append((f"40002{v:03d}001", f"40002{v:03d}", f"word{v}", "", ""))
        records.append(([f"n40002{v:03d}001"], [f"40002{v:03d}001"]))
    records += list(extra_records)
    (tmp_path / "src.tsv").write_text(
        SRC_HEAD + "".join(f"{i}\t{t}-1\t{t}\tG1\tg\tg\t{t}\tnoun\tN\n" for i, t in src), encoding="utf-8"
    )
    (tmp_path / "tgt.tsv").write_text(
        TGT_HEAD + "".join(f"{i}\t{v}\t{t}\t{s}\t{e}\t\t\n" for i, v, t, s, e in tgt), encoding="utf-8"
    )
    doc = {"records": [{"source": s, "target": t, "meta": {"id": str(n)}} for n, (s, t) in enumerate(records)]}
    (tmp_path / "align.json").write_text(json.dumps(doc), encoding="utf-8")
    return PackageFiles("9.9", tmp_path / "src.tsv", tmp_path / "tgt.tsv", tmp_path / "align.json")


def test_verses_linked_across_are_merged_and_punctuation_dropped(tmp_path):
    segments, stats = read_aligned_verses(_tables(tmp_path))
    assert len(segments) == 1 and stats["merged segments"] == 1
    seg = segments[0]
    assert seg.ref == "Matt 1:1-2"
    assert seg.src_words == ["Βίβλος", "γενέσεως", "Ἀβραὰμ", "ἐγέννησεν"]
    assert seg.tgt_words == ["The", "book", "begot", "Abraham"]
    assert seg.links == [(0, 0), (0, 1), (2, 3), (3, 2)]


def test_punctuation_split_and_attach(tmp_path):
    files = _tables(tmp_path)
    split, _ = read_aligned_verses(files, punctuation="split")
    assert split[0].tgt_words == ["The", "book", ",", "“", "begot", "”", "Abraham", "."]
    assert split[0].links == [(0, 0), (0, 1), (2, 6), (3, 4)]
    attach, _ = read_aligned_verses(files, punctuation="attach")
    assert attach[0].tgt_words == ["The", "book,", "“begot”", "Abraham."]  # as the table writes the text
    assert attach[0].links == [(0, 0), (0, 1), (2, 3), (3, 2)]
    with pytest.raises(ValueError, match="punctuation must be one of"):
        read_aligned_verses(files, punctuation="keep")


def test_unknown_token_in_a_record_is_a_clear_error(tmp_path):
    files = _tables(tmp_path, extra_records=[(["n40009009009"], ["40001001001"])])
    with pytest.raises(AlignmentDataError, match="names token n40009009009"):
        read_aligned_verses(files)


def test_build_writes_a_seeded_split_with_gold_and_manifest(tmp_path):
    (tmp_path / "pkg").mkdir()
    files = _tables(tmp_path / "pkg", verses=range(1, 31))
    out = tmp_path / "corpus"
    m = build_alignment_corpus(out, seed=7, n_dev=5, n_test=8, min_train=10, files=files)
    assert m["counts"] == {"segments": 31, "train": 18, "dev": 5, "test": 8} and not m["up_to_date"]
    assert m["package"] == {"name": "bible-alignments", "version": "9.9"}
    lines = {name: (out / name).read_text(encoding="utf-8").splitlines() for name in m["files"]}
    assert sorted(m["files"]) == sorted(
        [
            "train.src",
            "train.tgt",
            "refs.train.txt",
            "dev.src",
            "dev.tgt",
            "refs.dev.txt",
            "dev.gold.pharaoh",
            "test.src",
            "test.tgt",
            "refs.test.txt",
            "test.gold.pharaoh",
        ]
    )
    for name, digest in m["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    refs = lines["refs.train.txt"] + lines["refs.dev.txt"] + lines["refs.test.txt"]
    assert len(set(refs)) == 31  # every segment in exactly one split
    for split in ("dev", "test"):  # gold lines follow the text lines, indices inside both sides
        gold = read_pharaoh(out / f"{split}.gold.pharaoh")
        for links, s, t in zip(gold, lines[f"{split}.src"], lines[f"{split}.tgt"], strict=True):
            assert links and all(i < len(s.split()) and j < len(t.split()) for i, j in links)
    assert not (out / "train.gold.pharaoh").exists()  # the gold never reaches training
    again = build_alignment_corpus(out, seed=7, n_dev=5, n_test=8, min_train=10, files=files)
    assert again["up_to_date"]
    other = build_alignment_corpus(tmp_path / "other", seed=8, n_dev=5, n_test=8, min_train=10, files=files)
    assert other["files"]["refs.test.txt"] != m["files"]["refs.test.txt"]  # the seed moves the split
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"]["test.eflomal.pharaoh"] = "0" * 64  # as the aligner records its links
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (out / "test.eflomal.pharaoh").write_text("0-0\n", encoding="utf-8")
    build_alignment_corpus(out, seed=8, n_dev=5, n_test=8, min_train=10, files=files)
    assert not (out / "test.eflomal.pharaoh").exists()  # links of the old split's lines are gone
    with pytest.raises(AlignmentDataError, match="only 31 aligned segments"):
        build_alignment_corpus(tmp_path / "x", n_dev=20, n_test=20, files=files)


def test_missing_package_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(alignments.importlib.metadata, "distribution", missing)
    with pytest.raises(AlignmentPackageMissing, match=r"pip install --no-deps bible-alignments"):
        find_package()
