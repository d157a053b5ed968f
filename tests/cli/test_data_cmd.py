"""``attnkit data bible`` through ``main``: summary, cache, default folder, one-line errors."""

from __future__ import annotations

import functools

import pytest

from attnkit.cli import data_cmd, main
from attnkit.data import sword
from attnkit.data.bible import build_bible_corpus

from ..data.test_bible import fake_bible


@pytest.fixture
def fake_modules(monkeypatch):
    """Build from the made-up modules "es" and "en" of tests/data/test_bible.py."""
    build = functools.partial(build_bible_corpus, read=fake_bible(), min_train=10)
    monkeypatch.setattr(data_cmd, "build_bible_corpus", build)
    monkeypatch.setattr(data_cmd, "find_module", lambda name: None)


def test_builds_into_the_default_folder_then_reports_it_up_to_date(fake_modules, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["data", "bible", "--src", "es", "--tgt", "en", "--n-dev", "4", "--n-test", "6"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "aligned 60 verse pairs of es and en" in out and "30 book only in target" in out
    assert "corpora/bible.es-en: 50 train, 4 dev, 6 test pairs" in out
    assert (tmp_path / "corpora" / "bible.es-en" / "manifest.json").is_file()
    assert main(args) == 0
    assert "up to date" in capsys.readouterr().out
    assert main([*args, "--force"]) == 0
    assert "aligned 60" in capsys.readouterr().out


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_a_missing_module_is_a_one_line_error_naming_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SWORD_PATH", str(tmp_path))
    monkeypatch.setattr(sword, "sword_paths", lambda: [tmp_path])  # hide /usr/share/sword too
    assert main(["data", "bible", "--out", str(tmp_path / "c")]) == 1
    line = one_line_error(capsys)
    assert line.startswith("attnkit data: error: SWORD module spaRV1909eb not found")
    assert "sudo apt-get install sword-text-sparv" in line
    assert not (tmp_path / "c").exists()


def test_an_unknown_module_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sword, "sword_paths", lambda: [tmp_path])
    assert main(["data", "bible", "--tgt", "engNoSuch", "--out", str(tmp_path / "c")]) == 1
    assert "SWORD module" in one_line_error(capsys)


def test_too_few_pairs_is_a_one_line_error(fake_modules, tmp_path, capsys):
    assert main(["-q", "data", "bible", "--src", "es", "--tgt", "en", "--out", str(tmp_path)]) == 1
    assert "usable verse pairs" in one_line_error(capsys)


@pytest.mark.parametrize("option", [["--n-dev", "-1"], ["--max-ratio", "0.5"], ["--max-words", "0"]])
def test_bad_options_are_usage_errors(option, tmp_path, capsys):
    assert main(["data", "bible", "--out", str(tmp_path), *option]) == 2
    assert "--max-ratio >= 1" in one_line_error(capsys)


def test_data_needs_a_corpus_name(capsys):
    assert main(["data"]) == 2
    assert "CORPUS" in capsys.readouterr().err
