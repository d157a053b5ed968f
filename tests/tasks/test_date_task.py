"""The date task's encoding and gold alignments."""

import datetime

import pytest

from attnkit.config import load_config
from attnkit.data.dates import render
from attnkit.tasks import DateTask, InputError


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    cfg = load_config(None, ["data.n_train=500", "data.n_dev=20", "data.n_test=20", "data.locales=[de_DE, en_US]"])
    task, splits = DateTask.build(cfg.data, tmp_path_factory.mktemp("run"))
    return task


def test_source_starts_with_the_locale_tag(task):
    assert task.source_tokens("3. Mai 1979", "de_DE")[:3] == ["<de_DE>", "3", "."]


def test_gold_alignment_points_at_the_fields(task):
    ex = render(datetime.date(1979, 5, 3), "de_DE", "long")  # "3. Mai 1979"
    tokens = task.source_tokens(ex.text, ex.locale)
    gold = {t: "".join(tokens[s:e]) for t, s, e in task.gold_alignment(ex)}
    assert gold == {0: "1979", 1: "1979", 2: "1979", 3: "1979", 5: "Mai", 6: "Mai", 8: "3", 9: "3"}


@pytest.mark.parametrize(
    "text, locale, message",
    [
        ("", "de_DE", "empty input"),
        ("x" * 65, "de_DE", "at most 64"),
        ("3 May 1979", "fr_FR", "unknown locale 'fr_FR'; this model knows: de_DE, en_US"),
    ],
)
def test_bad_sources(task, text, locale, message):
    with pytest.raises(InputError, match=message):
        task.source_tokens(text, locale)


def test_unseen_characters_become_unk(task):
    ids = task.encode_source("3 ☃", "en_US")
    assert ids[-1] == task.src_vocab.unk_id
