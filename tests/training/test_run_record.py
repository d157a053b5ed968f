"""run.json: a new run folder records the attnkit version that made it; a folder without a record
(written before 0.2.0) loads with the 0.1 config conversion, a folder with one loads strictly."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import attnkit
from attnkit.config import ConfigError, load_config
from attnkit.training import RunError, load_run
from attnkit.training.pipeline import train_run
from attnkit.training.run_record import (
    RECORD_FORMAT,
    RUN_RECORD,
    RunRecord,
    is_legacy,
    load_run_config,
    read_run_record,
    write_run_record,
)

from ..test_config import OLD_RUN_CONFIG

REPO = Path(__file__).resolve().parents[2]
TINY = ["train.max_steps=2", "train.eval_every=2", "train.threads=1"]


@pytest.fixture(scope="module")
def karate_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("record") / "karate"
    train_run(load_config(REPO / "configs" / "karate-gat.yaml", TINY), out, progress=False)
    return out


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_the_version_has_one_source_and_is_0_3_0():
    assert attnkit.__version__ == "0.3.0"
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    if sys.version_info >= (3, 11):
        import tomllib

        project = tomllib.loads(text)
        assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
        assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "attnkit.__version__"}
    else:  # pragma: no cover - the CI's Python has tomllib
        assert 'version = { attr = "attnkit.__version__" }' in text


def test_a_new_run_records_the_version_that_made_it(karate_run):
    record = json.loads((karate_run / RUN_RECORD).read_text(encoding="utf-8"))
    assert record == {"format": RECORD_FORMAT, "attnkit_version": attnkit.__version__}
    assert read_run_record(karate_run) == RunRecord(attnkit.__version__)
    assert not is_legacy(read_run_record(karate_run))
    assert load_run(karate_run).config == load_config(karate_run / "config.yaml")


def test_a_folder_without_a_record_loads_as_legacy_and_one_with_a_record_strictly(karate_run, tmp_path):
    recorded = _copy(karate_run, tmp_path / "recorded")
    config = (recorded / "config.yaml").read_text(encoding="utf-8")
    # a field of the 0.1 union sections at its 0.1 default: dropped for a legacy folder, refused otherwise
    (recorded / "config.yaml").write_text(config.replace("data:\n", "data:\n  n_train: 40000\n", 1))
    with pytest.raises(RunError, match="data.n_train does not apply to data.task=karate-club"):
        load_run(recorded)
    (recorded / RUN_RECORD).unlink()
    assert read_run_record(recorded) is None and is_legacy(None)
    assert load_run(recorded).config == load_run(karate_run).config


def test_an_attnkit_0_1_config_is_converted_only_without_a_record(tmp_path):
    (tmp_path / "config.yaml").write_text(OLD_RUN_CONFIG)
    cfg = load_run_config(tmp_path)
    assert cfg.data.task == "translation" and cfg.model.arch == "transformer" and cfg.model.d_model == 256
    write_run_record(tmp_path)
    with pytest.raises(ConfigError, match="does not apply") as err:
        load_run_config(tmp_path)
    assert "written by attnkit" not in str(err.value)  # same version: nothing to add
    write_run_record(tmp_path, "9.9.0")
    with pytest.raises(
        ConfigError, match=r"written by attnkit 9\.9\.0; this is attnkit " + re.escape(attnkit.__version__)
    ):
        load_run_config(tmp_path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "is not a readable run record"),
        ('{"format": "attnkit.run/1"}', "has no attnkit_version string"),
        ('["0.2.0"]', "has no attnkit_version string"),
    ],
)
def test_a_broken_record_is_a_one_line_error(tmp_path, text, message):
    (tmp_path / RUN_RECORD).write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        read_run_record(tmp_path)
    assert "\n" not in str(err.value)


def test_resuming_keeps_the_folder_s_record_or_its_absence(karate_run, tmp_path):
    legacy = _copy(karate_run, tmp_path / "legacy")
    (legacy / RUN_RECORD).unlink()
    train_run(load_config(None), legacy, progress=False, resume=True)  # cfg is ignored on resume
    assert not (legacy / RUN_RECORD).exists()
    recorded = _copy(karate_run, tmp_path / "recorded")
    write_run_record(recorded, "0.2.0rc1")
    train_run(load_config(None), recorded, progress=False, resume=True)
    assert read_run_record(recorded) == RunRecord("0.2.0rc1")


def test_training_again_into_a_folder_replaces_its_record(karate_run, tmp_path):
    again = _copy(karate_run, tmp_path / "again")
    write_run_record(again, "0.1.9")
    train_run(load_config(REPO / "configs" / "karate-gat.yaml", TINY), again, progress=False)
    assert read_run_record(again) == RunRecord(attnkit.__version__)
