"""The speech tasks' configs load without espeak-ng (the voices are checked when the data is
built), and building the data without it is the one-line apt-get error."""

import pytest

from attnkit.config import load_config
from attnkit.data import speech
from attnkit.data.speech import EspeakMissing
from attnkit.tasks import TASKS


@pytest.mark.parametrize("task", ["spoken-words", "spoken-dates"])
def test_without_espeak_the_config_loads_and_building_names_the_package(task, monkeypatch, tmp_path):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    speech.espeak_languages.cache_clear(), speech.espeak_variants.cache_clear()
    try:
        cfg = load_config(None, [f"data.task={task}", f"data.cache={tmp_path}"])
        with pytest.raises(EspeakMissing, match=r"`apt-get install espeak-ng`$"):
            TASKS.get(task).build(cfg.data, tmp_path / "run")
    finally:
        speech.espeak_languages.cache_clear(), speech.espeak_variants.cache_clear()
