"""Parallel corpora: bad lines are skipped, counted by reason and located by line number."""

import pytest

from attnkit.data import CorpusError, ParallelCorpus, read_parallel, read_tsv


def _pair(tmp_path, src: bytes, tgt: bytes):
    (tmp_path / "train.es").write_bytes(src)
    (tmp_path / "train.en").write_bytes(tgt)
    return tmp_path / "train.es", tmp_path / "train.en"


def test_good_data_round_trips(tmp_path):
    src = ["El niño comió.", "“Hola”, dijo él — 3,5 años.", "¿Qué?"]
    tgt = ["The boy ate.", "“Hello”, he said — 3.5 years.", "What?"]
    paths = _pair(tmp_path, ("\n".join(src) + "\n").encode(), ("\n".join(tgt) + "\n").encode())
    corpus = read_parallel(*paths)
    assert (corpus.src, corpus.tgt) == (src, tgt)
    assert corpus.skipped == {} and corpus.examples == {} and corpus.n_lines == 3 and len(corpus) == 3
    assert corpus.report() == "read 3 pairs from train.es/train.en; skipped none"


def test_crlf_bom_and_missing_final_newline(tmp_path):
    paths = _pair(tmp_path, b"\xef\xbb\xbfuno\r\ndos\r\n", b"one\r\ntwo")
    corpus = read_parallel(*paths)
    assert (corpus.src, corpus.tgt) == (["uno", "dos"], ["one", "two"])


def test_each_problem_is_skipped_counted_and_located(tmp_path):
    src = b"ok\n\n\xff\xfe bad\nfine\n" + b"x" * 11 + b"\n  \t \nlast\n"
    tgt = b"ok\nempty source\nbad source\n\xc3(\nlong\nblank\nfinal\n"
    corpus = read_parallel(*_pair(tmp_path, src, tgt), max_chars=10)
    assert (corpus.src, corpus.tgt) == (["ok", "last"], ["ok", "final"])
    assert corpus.skipped == {"empty": 2, "invalid_utf8": 2, "too_long": 1}
    assert corpus.examples == {"empty": [2, 6], "invalid_utf8": [3, 4], "too_long": [5]}
    assert corpus.n_lines == 7
    assert corpus.report() == (
        "read 2 pairs from train.es/train.en; skipped 5: 2 invalid UTF-8 (lines 3, 4), "
        "2 empty (lines 2, 6), 1 over 10 characters (line 5)"
    )


def test_long_lines_are_skipped_never_truncated(tmp_path):
    corpus = read_parallel(*_pair(tmp_path, "añoñ\nabcdef\nok\n".encode(), b"x\ny\nz\n"), max_chars=5)
    assert corpus.src == ["añoñ", "ok"]  # 4 characters (6 bytes) is within the limit
    assert corpus.skipped == {"too_long": 1} and corpus.examples == {"too_long": [2]}


def test_only_first_five_line_numbers_are_kept(tmp_path):
    corpus = read_parallel(*_pair(tmp_path, b"a\n" + b"\n" * 8, b"b\n" + b"c\n" * 8))
    assert corpus.skipped == {"empty": 8} and corpus.examples == {"empty": [2, 3, 4, 5, 6]}
    assert "8 empty (lines 2, 3, 4, 5, 6, ...)" in corpus.report()


def test_unequal_line_counts_is_an_error_naming_both(tmp_path):
    paths = _pair(tmp_path, b"a\nb\nc\n", b"a\nb\n")
    with pytest.raises(CorpusError, match=r"train.es has 3 lines but .*train.en has 2;.*re-align") as info:
        read_parallel(*paths)
    assert "\n" not in str(info.value) and isinstance(info.value, ValueError)


def test_missing_file_folder_and_nothing_usable(tmp_path):
    src, tgt = _pair(tmp_path, b"\n\n", b"a\nb\n")
    with pytest.raises(CorpusError, match="does not exist"):
        read_parallel(tmp_path / "nope.es", tgt)
    with pytest.raises(CorpusError, match="is a folder"):
        read_parallel(src, tmp_path)
    nothing = r"no usable sentence pairs in train.es/train.en \(all 2 skipped: 2 empty \(lines 1, 2\)\); check"
    with pytest.raises(CorpusError, match=nothing):
        read_parallel(src, tgt)
    (tmp_path / "empty.tsv").write_bytes(b"")
    with pytest.raises(CorpusError, match="it is empty"):
        read_tsv(tmp_path / "empty.tsv")
    with pytest.raises(ValueError, match="max_chars"):
        read_parallel(src, tgt, max_chars=0)


def test_tsv_variants(tmp_path):
    data = (
        b"hola\thello\r\n"  # 1 CRLF
        b"sin tabulador\n"  # 2 missing tab
        b"a\tb\tc\n"  # 3 extra column
        b"\tonly target\n"  # 4 empty source
        b"caf\xe9\tcafe\n"  # 5 Latin-1, not UTF-8
        b" adi\xc3\xb3s \t bye \n"  # 6 surrounding spaces go
        b"largo\t" + b"y" * 30 + b"\n"
    )  # 7 too long
    path = tmp_path / "train.tsv"
    path.write_bytes(data)
    corpus = read_tsv(path, max_chars=20)
    assert (corpus.src, corpus.tgt) == (["hola", "adiós"], ["hello", "bye"])
    assert corpus.skipped == {"columns": 2, "empty": 1, "invalid_utf8": 1, "too_long": 1}
    assert corpus.examples == {"columns": [2, 3], "empty": [4], "invalid_utf8": [5], "too_long": [7]}
    assert corpus.n_lines == 7
    assert corpus.report().startswith(
        "read 2 pairs from train.tsv; skipped 5: 2 not two tab-separated columns (lines 2, 3), 1 invalid UTF-8 (line 5)"
    )


def test_report_of_a_hand_built_corpus():
    corpus = ParallelCorpus(
        ["a"] * 29812,
        ["b"] * 29812,
        {"empty": 2, "invalid_utf8": 1},
        {"empty": [17, 40], "invalid_utf8": [88]},
        29815,
        "train.es/train.en",
    )
    assert corpus.report() == (
        "read 29,812 pairs from train.es/train.en; skipped 3: 2 empty (lines 17, 40), 1 invalid UTF-8 (line 88)"
    )
