"""Values that were silently accepted (issue 26) are refused with their range, in one line, before
any work: data sizes beyond what a generator can make, an empty config, flags out of range
(``--jobs 0``, ``--seed 2**70``, ...), outputs in folders that do not exist."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from attnkit.cli import main
from attnkit.config import load_config
from attnkit.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
DATES = str(REPO / "configs" / "dates-bahdanau.yaml")


def _one_line_error(capsys, argv, code=2) -> str:
    start = time.perf_counter()
    assert main(argv) == code
    assert time.perf_counter() - start < 20
    err = capsys.readouterr().err.strip()
    assert err and "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("attnkit") and "error:" in last, err
    return err


@pytest.mark.parametrize(
    "overrides,words",
    [
        (["data.n_train=1000000000000"], "data.n_train"),
        (["data.n_test=9000000000", "data.locales=[en_US]"], "data.n_test"),
        (["data.n_train=4000000", "data.locales=[zh_CN]"], "distinct"),
    ],
)
def test_date_sizes_beyond_the_generator_are_refused(overrides, words):
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=words) as err:
        load_config(DATES, overrides)
    assert "\n" not in str(err.value) and time.perf_counter() - start < 5


def test_caption_and_spoken_date_sizes_are_bounded():
    with pytest.raises(ConfigError, match="data.n_train"):
        load_config(None, ["data.task=scenes-caption", "data.n_train=1000000000000"])
    with pytest.raises(ConfigError, match="data.n_dev"):
        load_config(None, ["data.task=spoken-dates", "data.n_dev=1000000000000"])


@pytest.mark.parametrize("text", ["data: {task: []}\n", "data: {task: {a: 1}}\n", "model: {arch: [rnn]}\n"])
def test_a_task_or_family_that_is_not_a_name_is_a_config_error(tmp_path, text):  # found by the fuzz suite
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"data.task|model.arch"):
        load_config(path)


def test_the_largest_documented_sizes_load():
    assert load_config(DATES, ["data.n_train=1000000"]).data.n_train == 1_000_000


def test_an_empty_config_is_refused(tmp_path, capsys):
    for text in ("", "# nothing yet\n", "null\n", "{}\n"):
        path = tmp_path / "empty.yaml"
        path.write_text(text)
        err = _one_line_error(capsys, ["train", str(path), "--out", str(tmp_path / "run")])
        assert "is empty" in err and "data.task" in err
        assert not (tmp_path / "run").exists()


def test_a_config_without_a_task_says_which_it_trains(tmp_path, caplog):
    path = tmp_path / "small.yaml"
    path.write_text("train: {max_steps: 3}\n")
    with caplog.at_level(logging.INFO, logger="attnkit.config"):
        cfg = load_config(path)
    assert cfg.data.task == "dates" and "no data.task" in caplog.text and "dates" in caplog.text


def test_train_out_in_a_missing_folder_is_refused(tmp_path, capsys):
    out = tmp_path / "missing" / "deeper" / "run"
    err = _one_line_error(capsys, ["train", DATES, "--out", str(out)])
    assert "--out" in err and "does not exist" in err
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["demo", "--jobs", "0"], "--jobs"),
        (["demo", "--jobs", "-3"], "--jobs"),
        (["compare", DATES, DATES, "--jobs", "0"], "--jobs"),
        (["study", "length", "--jobs", "0"], "--jobs"),
        (["study", "length", "--minutes", "nan"], "--minutes"),
        (["study", "length", "--threads", "-1"], "--threads"),
        (["study", "han", "--epochs", "0"], "--epochs"),
        (["study", "vision", "--minutes", "inf"], "--minutes"),
        (["study", "vision", "--seeds", "1", "-2"], "--seeds"),
        (["data", "bible", "--n-dev", "-1"], "--n-dev"),
        (["data", "bible", "--max-ratio", "nan"], "--max-ratio"),  # already refused in one line
        (["data", "alignments", "--n-test", "0"], "--n-test"),
        (["data", "bible", "--seed", str(2**70)], "--seed"),  # found by the fuzz suite
        (["data", "alignments", "--seed", str(2**70)], "--seed"),
        (["train", DATES, "--seed", str(2**70)], "--seed"),
        (["translate", "--model", "x", "--seed", "-1", "a"], "--seed"),
    ],
)
def test_flags_out_of_range_are_refused(tmp_path, capsys, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, argv)
    assert flag in err.splitlines()[-1]
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--out", "missing/demo"],
        ["compare", DATES, DATES, "--out", "missing/cmp"],
        ["study", "length", "--out", "missing/length"],
        ["study", "han", "--out", "missing/han"],
        ["study", "vision", "--out", "missing/vision"],
        ["data", "bible", "--out", "missing/bible"],
        ["data", "alignments", "--out", "missing/gold"],
    ],
)
def test_outputs_in_missing_folders_are_refused(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, argv)
    assert "--out" in err and "does not exist" in err
    assert not list(tmp_path.iterdir())
