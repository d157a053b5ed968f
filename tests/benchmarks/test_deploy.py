"""benchmarks/deploy.py --quick: every engine and setting gives a row; the exact attnkit settings
and CTranslate2 fp32 give attnkit eager's greedy outputs (the same weights, the same decoding)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ctranslate2", reason="ctranslate2 is not installed: pip install 'attnkit[ctranslate2]'")

from benchmarks.deploy import main  # noqa: E402


def test_quick_run_writes_every_row(tmp_path, capsys):
    out = tmp_path / "deploy.json"
    assert main(["--quick", "--sentences", "8", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    engines = {(r["beam"], r["engine"], r["attention"]) for r in rows}
    for beam in (1, 5):
        for name in ("eager", "check-every-8", "static-kv", "exact-all", "int8", "int8+exact"):
            assert (beam, f"attnkit {name}", True) in engines
        for name in ("ct2-fp32", "ct2-int8"):
            assert {(beam, name, True), (beam, name, False)} <= engines
    assert all(r["sentences_per_s"] > 0 and r["words_per_s"] > 0 for r in rows)
    by = {(r["beam"], r["engine"], r["attention"]): r for r in rows}
    for beam in (1, 5):
        for name in ("attnkit check-every-8", "attnkit static-kv", "attnkit exact-all"):
            assert by[beam, name, True]["bleu_vs_eager"] == 100.0
        assert by[beam, "ct2-fp32", True]["vs_ct2_fp32"] == 1.0
    assert by[1, "ct2-fp32", True]["bleu_vs_eager"] == 100.0  # greedy: the engine decodes as attnkit does
    assert "| attnkit eager |" in capsys.readouterr().out


def test_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "none")]) == 1
    assert "not found" in capsys.readouterr().err
