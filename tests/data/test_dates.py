"""Tests for attnkit.data.dates and .date_formats: formats against Babel, field spans, sampling, splits, I/O."""

from __future__ import annotations

import datetime
import json
import os
from collections import Counter

import pytest
from babel import Locale
from babel.dates import format_date, tokenize_pattern

from attnkit.data import dates
from attnkit.data.dates import DateExample

# Written out here rather than imported, so the tests do not share the module's table.
_PLAIN_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})

# Both centuries and both two-digit-year halves, one- and two-digit days and months, the
# window's ends, a leap day, and every weekday.
DATES = [
    datetime.date(1979, 5, 3),
    datetime.date(1950, 1, 1),
    datetime.date(2049, 12, 31),
    datetime.date(2000, 2, 29),
    datetime.date(1999, 9, 9),
    datetime.date(2012, 11, 25),
    datetime.date(1968, 10, 14),
    datetime.date(2031, 7, 6),
]


def _all_names():
    return [(loc, name) for loc in dates.LOCALES for name in dates.format_names(loc)]


def _uncased_names():
    return [(loc, name) for loc in dates.LOCALES for name in dates.date_formats(loc)]


def _month_names(locale: str, month: int) -> set[str]:
    """Every Babel name of `month` in `locale` (all widths and contexts), case-folded."""
    months = Locale.parse(locale).months
    return {
        months[ctx][width][month].translate(_PLAIN_SPACES).casefold()
        for ctx in ("format", "stand-alone")
        for width in ("abbreviated", "wide", "narrow")
        if month in months[ctx][width]
    }


def _check_spans(ex: DateExample) -> None:
    """The spans lie inside the text, do not overlap, and hold the target's year, month, day."""
    date = datetime.date.fromisoformat(ex.target)
    spans = sorted([ex.year_span, ex.month_span, ex.day_span])
    assert all(0 <= s < e <= len(ex.text) for s, e in spans), ex
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0], ex
    year = ex.text[slice(*ex.year_span)]
    assert year.isdigit() and (int(year) == date.year or (len(year) == 2 and int(year) == date.year % 100)), ex
    day = ex.text[slice(*ex.day_span)]
    assert day.isdigit() and int(day) == date.day, ex
    month = ex.text[slice(*ex.month_span)]
    if month.isdigit():
        assert int(month) == date.month, ex
    else:
        assert month.casefold() in _month_names(ex.locale, date.month), ex


def test_known_examples():
    d = datetime.date(1979, 5, 3)
    assert dates.render(d, "en_US", "short").text == "5/3/79"
    assert dates.render(d, "es_ES", "short").text == "3/5/79"
    ex = dates.render(d, "de_DE", "long")
    assert ex == DateExample("3. Mai 1979", "1979-05-03", "de_DE", "long", (7, 11), (3, 6), (0, 1))
    assert dates.render(d, "en_US", "upper:full").text == "THURSDAY, MAY 3, 1979"
    assert dates.render(d, "ru_RU", "long").text == "3 мая 1979 г."  # U+202F in Babel -> space
    assert dates.render(d, "ja_JP", "long").text == "1979年5月3日"


@pytest.mark.parametrize(
    "loc,name,text",
    [
        ("en_US", "numeric-dot-padded-yy", "05.03.79"),
        ("en_US", "nocomma:full", "Thursday May 3 1979"),
        ("en_US", "day-first:long", "3 May 1979"),
        ("en_GB", "month-first:medium", "May 3, 1979"),
        ("de_DE", "skeleton:yMMMEd", "Do., 3. Mai 1979"),
        ("es_ES", "lower:abbr:full", "jue, 3 de may de 1979"),
        ("fr_FR", "padded:long", "03 mai 1979"),
        ("pt_BR", "upper:nocomma:skeleton:yMMMEd", "QUI. 3 DE MAI. DE 1979"),
        ("ja_JP", "skeleton:yMMMEd", "1979年5月3日(木)"),
        ("zh_CN", "numeric-dot", "1979.5.3"),
    ],
)
def test_derived_formats(loc, name, text):
    assert dates.render(datetime.date(1979, 5, 3), loc, name).text == text


def test_base_formats_are_babels_own_patterns():
    for loc in dates.LOCALES:
        formats = dates.date_formats(loc)
        assert list(formats)[:4] == ["short", "medium", "long", "full"]
        for name in ("short", "medium", "long", "full"):
            assert formats[name] == Locale.parse(loc).date_formats[name].pattern


@pytest.mark.parametrize("loc,name", _uncased_names())
def test_text_equals_babel_format_date(loc, name):
    pattern = dates.date_formats(loc)[name]
    for d in DATES:
        ex = dates.render(d, loc, name)
        assert ex.text == format_date(d, pattern, locale=loc).translate(_PLAIN_SPACES)
        assert ex.target == d.isoformat()
        assert (ex.locale, ex.fmt) == (loc, name)


def test_every_format_has_one_year_month_day_and_no_week_year():
    for loc in dates.LOCALES:
        for name, pattern in dates.date_formats(loc).items():
            letters = [value[0] for kind, value in tokenize_pattern(pattern) if kind == "field"]
            assert sum(c in "yu" for c in letters) == 1, (loc, name, pattern)
            assert sum(c in "ML" for c in letters) == 1, (loc, name, pattern)
            assert letters.count("d") == 1, (loc, name, pattern)
            assert set(letters) <= set("yuMLdEec"), (loc, name, pattern)  # no 'Y', era or time


def test_case_variants_exist_exactly_for_cased_formats():
    for loc in dates.LOCALES:
        names = dates.format_names(loc)
        base = dates.date_formats(loc)
        assert len(names) == len(set(names))
        assert [n for n in names if not n.startswith(("upper:", "lower:"))] == list(base)
        for name in base:
            text = dates.render(DATES[0], loc, name).text
            cased = text.upper() != text or text.lower() != text
            assert (f"upper:{name}" in names) == cased == (f"lower:{name}" in names), (loc, name)
    assert dates.format_names("zh_CN") == list(dates.date_formats("zh_CN"))  # no cased letters


@pytest.mark.parametrize("loc", dates.LOCALES)
def test_spans_hold_the_fields_for_every_format(loc):
    for name in dates.format_names(loc):
        for d in DATES:
            ex = dates.render(d, loc, name)
            assert ex.target == d.isoformat()
            _check_spans(ex)
            if name.startswith(("upper:", "lower:")):
                case, base = name.split(":", 1)
                plain = dates.render(d, loc, base)
                assert ex.text == getattr(plain.text, case)()
                assert (ex.year_span, ex.month_span, ex.day_span) == (plain.year_span, plain.month_span, plain.day_span)


def test_two_digit_years_at_the_window_edges():
    assert dates.render(dates.FIRST_DATE, "en_US", "short").text == "1/1/50"
    assert dates.render(dates.LAST_DATE, "en_US", "short").text == "12/31/49"
    for d in (dates.FIRST_DATE - datetime.timedelta(days=1), dates.LAST_DATE + datetime.timedelta(days=1)):
        with pytest.raises(ValueError, match="outside 1950-01-01..2049-12-31"):
            dates.render(d, "en_US", "long")


def test_non_base_formats_are_distinct():
    probe = [datetime.date(y, m, d) for y in (1979, 2013) for m in range(1, 13) for d in (5, 25)]
    for loc in dates.LOCALES:
        seen = {}
        for name in dates.date_formats(loc):
            texts = tuple(dates.render(d, loc, name).text for d in probe)
            if name not in ("short", "medium", "long", "full"):
                assert texts not in seen, (loc, name, seen.get(texts))
            seen.setdefault(texts, name)


def test_large_sample_covers_every_locale_and_format():
    sample = dates.sample_examples(20000, seed=1)
    assert Counter((e.locale, e.fmt) for e in sample).keys() == set(_all_names())
    per_locale = Counter(e.locale for e in sample)
    expected = len(sample) / len(dates.LOCALES)
    assert all(abs(c - expected) < 0.1 * expected for c in per_locale.values()), per_locale
    for ex in sample[:3000]:
        assert dates.FIRST_DATE <= datetime.date.fromisoformat(ex.target) <= dates.LAST_DATE
        assert "\u00a0" not in ex.text and "\u202f" not in ex.text
        _check_spans(ex)
    years = [int(e.target[:4]) for e in sample]
    assert min(years) == 1950 and max(years) == 2049


def test_sampling_is_seeded_and_respects_locales():
    assert dates.sample_examples(200, seed=3) == dates.sample_examples(200, seed=3)
    assert dates.sample_examples(200, seed=3) != dates.sample_examples(200, seed=4)
    subset = dates.sample_examples(300, seed=0, locales=["ja_JP", "fr_FR"])
    assert {e.locale for e in subset} == {"ja_JP", "fr_FR"}
    assert dates.sample_examples(0, seed=0) == []


def test_splits_are_exact_disjoint_and_deterministic():
    splits = dates.make_splits(3000, 300, 400, seed=7)
    assert list(splits) == ["train", "dev", "test"]
    assert [len(splits[k]) for k in splits] == [3000, 300, 400]
    texts = [set(e.text for e in splits[k]) for k in splits]
    assert [len(t) for t in texts] == [3000, 300, 400]  # no duplicates within a split
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert splits == dates.make_splits(3000, 300, 400, seed=7)
    assert splits["test"] != dates.make_splits(3000, 300, 400, seed=8)["test"]
    # the test set is drawn first, so it does not depend on how much training data is asked for
    assert dates.make_splits(10, 300, 400, seed=7)["test"] == splits["test"]
    assert dates.make_splits(0, 0, 0, seed=7) == {"train": [], "dev": [], "test": []}


def test_splits_from_one_locale():
    splits = dates.make_splits(500, 50, 50, seed=0, locales=("zh_CN",))
    assert {e.locale for k in splits for e in splits[k]} == {"zh_CN"}
    assert len({e.text for k in splits for e in splits[k]}) == 600


def test_unknown_locale_and_format_name_the_choices():
    with pytest.raises(ValueError, match=r"unknown locale 'xx_XX'; choose one of: en_US, en_GB, .*ja_JP"):
        dates.check_locale("xx_XX")
    for call in (
        lambda: dates.render(DATES[0], "en", "long"),
        lambda: dates.date_formats("en"),
        lambda: dates.format_names("de"),
        lambda: dates.sample_examples(3, 0, locales=["fr"]),
        lambda: dates.make_splits(1, 1, 1, 0, locales=("en_US", "pt_PT")),
    ):
        with pytest.raises(ValueError, match="choose one of: en_US"):
            call()
    with pytest.raises(ValueError, match=r"unknown date format 'longest'.*: short, medium, long, full, .*upper:long"):
        dates.render(DATES[0], "en_US", "longest")
    with pytest.raises(ValueError, match="unknown date format 'upper:short'"):
        dates.render(DATES[0], "en_US", "upper:short")  # numeric: no case variant
    with pytest.raises(ValueError, match="unknown date format 'lower:full'"):
        dates.render(DATES[0], "zh_CN", "lower:full")
    with pytest.raises(ValueError, match="locales is empty"):
        dates.sample_examples(3, 0, locales=())
    with pytest.raises(ValueError, match="n_dev must be a non-negative int"):
        dates.make_splits(1, -1, 1, 0)
    with pytest.raises(TypeError, match="datetime.date"):
        dates.render("1979-05-03", "en_US", "long")
    assert dates.check_locale("de_DE") == "de_DE"


def test_date_formats_returns_a_fresh_dict():
    formats = dates.date_formats("fr_FR")
    formats["long"] = "y"
    assert dates.date_formats("fr_FR")["long"] == "d MMMM y"
    assert dates.render(DATES[0], "fr_FR", "long").text == "3 mai 1979"


def test_jsonl_round_trip(tmp_path):
    examples = dates.sample_examples(300, seed=5)
    path = tmp_path / "train.jsonl"
    dates.save_jsonl(examples, path)
    assert dates.load_jsonl(path) == examples
    assert os.listdir(tmp_path) == ["train.jsonl"]  # the temporary file was renamed away
    raw = path.read_text(encoding="utf-8")
    assert raw.count("\n") == 300 and raw.endswith("\n")
    assert json.loads(raw.splitlines()[0]) == examples[0].to_dict()
    ex = dates.render(DATES[0], "zh_CN", "long")
    dates.save_jsonl([ex], path)  # overwrites; non-ASCII is written as UTF-8, not escaped
    assert "1979年5月3日" in path.read_text(encoding="utf-8")
    assert dates.load_jsonl(path) == [ex]


def test_from_dict_and_load_reject_bad_records(tmp_path):
    good = dates.render(DATES[0], "en_GB", "full").to_dict()
    assert DateExample.from_dict(good) == dates.render(DATES[0], "en_GB", "full")
    with pytest.raises(ValueError, match="expected exactly"):
        DateExample.from_dict({k: v for k, v in good.items() if k != "day_span"})
    with pytest.raises(ValueError, match="year_span must be two ints"):
        DateExample.from_dict({**good, "year_span": [1, 2, 3]})
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n\n{not json}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:3: not a date example"):
        dates.load_jsonl(path)
