"""Date formats for date normalisation: human-readable dates in eleven locales, their ISO 8601
``YYYY-MM-DD`` target and the character spans of their fields. Sampling, splits and files of
examples are in :mod:`attnkit.data.dates`; the task plug-in is :mod:`attnkit.tasks.date_task`.

This is the date-normalisation task from the standard attention course material, the
"Neural Machine Translation with Attention" assignment of Ng's deeplearning.ai sequence-models
course [Ng18], where a small encoder-decoder with attention learns to turn "Thursday, May 3,
1979" or "5/3/79" into "1979-05-03". Here it is made multilingual with CLDR data [CLDR] via
Babel: every example is drawn from one of `LOCALES` and written with one of that locale's date
patterns, so the model sees "3. Mai 1979", "jueves, 3 de mayo de 1979" and "1979年5月3日".

Dates come uniformly from `FIRST_DATE` to `LAST_DATE`, so a two-digit year is never ambiguous
(50-99 -> 19xx, 00-49 -> 20xx). Numeric dates mean different things in different locales
("5/3/79" is 3 May in en_US and 5 March in es_ES); callers put a locale tag in front of the
source text to disambiguate. Each example records the [start, end) character spans of its year,
month and day fields, which gives a reference alignment to compare attention weights against.

Formats per locale (names are stable strings; `format_names` lists them):

- ``short``, ``medium``, ``long``, ``full``: the locale's standard CLDR date formats.
- ``skeleton:<key>``: the locale's flexible formats ([UTS35] availableFormats) whose skeleton
  has a year, a month and a day and no era, e.g. ``skeleton:yMMMEd`` -> "Thu, May 3, 1979".
- ``numeric-{slash,dash,dot}[-padded][-yy]``: day, month and year in the locale's own order
  with another separator, zero padding, or a two-digit year (no two-digit year when the year
  comes first, as in zh_CN and ja_JP).
- ``nocomma:<name>``, ``abbr:<name>``, ``padded:<name>``: a textual format without commas, with
  abbreviated month and weekday names, or with a zero-padded day.
- ``day-first:*`` / ``month-first:*``: the other common English order (en_US, en_GB only).
- ``upper:<name>``, ``lower:<name>``: the whole text upper- or lower-cased, for every format
  whose text has cased letters.

A candidate that renders exactly like an earlier format on a set of probe dates is dropped, so
each name is a distinct way of writing dates. Babel's non-breaking and narrow no-break spaces
become plain spaces, one character for one, so spans stay valid.

Differences from the course:
    The course uses en_US only, lower-cases every text and strips its commas; here case and
    commas are separate formats. Its custom patterns use ``YYY``, which in CLDR is the
    week-based year and is wrong for some dates around New Year; only ``y`` is used here.

References:
    [Ng18] A. Ng, K. Katanforoosh, Y. B. Mourri. Sequence Models, week 3 programming assignment
    "Neural Machine Translation with Attention". deeplearning.ai / Coursera, 2018.
    [CLDR] Unicode Consortium. Unicode Common Locale Data Repository. https://cldr.unicode.org
    [UTS35] Unicode Technical Standard #35: Unicode Locale Data Markup Language, Part 4: Dates.
    https://www.unicode.org/reports/tr35/tr35-dates.html
"""

from __future__ import annotations

import datetime
import functools
import random
import re
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from babel import Locale
from babel.dates import DateTimeFormat, tokenize_pattern

__all__ = [
    "LOCALES",
    "FIRST_DATE",
    "LAST_DATE",
    "DateExample",
    "check_locale",
    "date_formats",
    "format_names",
    "render",
    "draw_example",
]

LOCALES: tuple[str, ...] = (
    "en_US",
    "en_GB",
    "fr_FR",
    "de_DE",
    "es_ES",
    "it_IT",
    "pt_BR",
    "nl_NL",
    "ru_RU",
    "zh_CN",
    "ja_JP",
)
FIRST_DATE = datetime.date(1950, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)
_N_DAYS = (LAST_DATE - FIRST_DATE).days + 1

_BASE_NAMES = ("short", "medium", "long", "full")
_ROLE = types.MappingProxyType({"y": "year", "u": "year", "M": "month", "L": "month", "d": "day"})
_WEEKDAY_LETTERS = frozenset("Eec")  # allowed besides the three roles; e/c only when textual
_SEPARATORS = (("slash", "/"), ("dash", "-"), ("dot", "."))
_EXTRA_PATTERNS = types.MappingProxyType(
    {
        "en_US": (("day-first:long", "d MMMM y"), ("day-first:medium", "d MMM y")),
        "en_GB": (("month-first:long", "MMMM d, y"), ("month-first:medium", "MMM d, y")),
    }
)
# Babel/CLDR put U+00A0 and U+202F in some patterns; users type U+0020.
_SPACES = types.MappingProxyType(
    {ord(c): " " for c in "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"}
)
# Probe dates for deduplication: every month, one- and two-digit days, both centuries.
_PROBES = tuple(datetime.date(1979, m, m) for m in range(1, 13)) + tuple(
    datetime.date(2008, m, 10 + m) for m in range(1, 13)
)

_Token = tuple  # ("chars", str) or ("field", (letter, count)), as from babel.dates.tokenize_pattern


@dataclass(frozen=True)
class DateExample:
    """One source/target pair with the character spans of its date fields.

    Attributes:
        text: human-readable date without locale tag, e.g. "3. Mai 1979".
        target: the same date in ISO 8601, e.g. "1979-05-03".
        locale: one of `LOCALES`, e.g. "de_DE".
        fmt: format name, one of ``format_names(locale)``, e.g. "long".
        year_span: [start, end) character offsets of the year field in `text`.
        month_span: [start, end) offsets of the month field (number or name).
        day_span: [start, end) offsets of the day-of-month field.
    """

    text: str
    target: str
    locale: str
    fmt: str
    year_span: tuple[int, int]
    month_span: tuple[int, int]
    day_span: tuple[int, int]

    def to_dict(self) -> dict:
        """Plain JSON-ready dict; spans become two-element lists."""
        return {
            "text": self.text,
            "target": self.target,
            "locale": self.locale,
            "fmt": self.fmt,
            "year_span": list(self.year_span),
            "month_span": list(self.month_span),
            "day_span": list(self.day_span),
        }

    @classmethod
    def from_dict(cls, d: dict) -> DateExample:
        """Inverse of `to_dict`.

        Raises:
            ValueError: if keys are missing or unexpected, or a span is not two ints.
        """
        expected = {"text", "target", "locale", "fmt", "year_span", "month_span", "day_span"}
        if set(d) != expected:
            raise ValueError(f"date example has keys {sorted(d)}; expected exactly {sorted(expected)}")
        spans = {}
        for key in ("year_span", "month_span", "day_span"):
            span = d[key]
            if (
                not isinstance(span, (list, tuple))
                or len(span) != 2
                or not all(isinstance(i, int) and not isinstance(i, bool) for i in span)
            ):
                raise ValueError(f"{key} must be two ints [start, end), got {span!r}")
            spans[key] = (span[0], span[1])
        return cls(text=d["text"], target=d["target"], locale=d["locale"], fmt=d["fmt"], **spans)


@dataclass(frozen=True)
class _Format:
    name: str
    pattern: str
    tokens: tuple[_Token, ...]
    cased: bool  # whether upper:/lower: variants exist


def check_locale(locale: str) -> str:
    """Return `locale` unchanged if it is one of `LOCALES`.

    Raises:
        ValueError: naming the valid locales, if it is not.
    """
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; choose one of: {', '.join(LOCALES)}")
    return locale


@functools.lru_cache(maxsize=None)
def _locale(locale: str) -> Locale:
    return Locale.parse(check_locale(locale))


def _tokens(pattern: str) -> tuple[_Token, ...]:
    """Tokenise a CLDR pattern, merging adjacent literal runs."""
    out: list[_Token] = []
    for kind, value in tokenize_pattern(pattern):
        if kind == "chars" and out and out[-1][0] == "chars":
            out[-1] = ("chars", out[-1][1] + value)
        else:
            out.append((kind, value))
    return tuple(out)


def _pattern(tokens: Iterable[_Token]) -> str:
    """Serialise tokens back to a CLDR pattern (quoting literal letters and apostrophes)."""
    parts = []
    for kind, value in tokens:
        if kind == "field":
            parts.append(value[0] * value[1])
        elif re.search(r"[A-Za-z']", value):
            parts.append("'" + value.replace("'", "''") + "'")
        else:
            parts.append(value)
    return "".join(parts)


def _is_valid(tokens: Sequence[_Token]) -> bool:
    """Exactly one year, month and day field; otherwise only textual weekdays."""
    roles = []
    for kind, value in tokens:
        if kind != "field":
            continue
        letter, count = value
        if letter in _ROLE:
            roles.append(_ROLE[letter])
        elif letter not in _WEEKDAY_LETTERS or (letter != "E" and count < 3):
            return False  # era, week-based year 'Y', quarter, time, numeric weekday...
    return sorted(roles) == ["day", "month", "year"]


def _fields(tokens: Sequence[_Token]) -> dict[str, tuple[str, int]]:
    return {_ROLE[v[0]]: v for k, v in tokens if k == "field" and v[0] in _ROLE}


def _pieces(date: datetime.date, loc: Locale, tokens: Sequence[_Token]) -> list[tuple[str, str | None]]:
    """Format `date` token by token: (text, role) per token, role in year/month/day or None."""
    fields = DateTimeFormat(date, locale=loc)
    return [
        (value, None) if kind == "chars" else (fields[value[0] * value[1]], _ROLE.get(value[0]))
        for kind, value in tokens
    ]


def _numeric(order: Sequence[str], sep: str, padded: bool, two_digit_year: bool) -> tuple[_Token, ...]:
    widths = {
        "day": ("d", 2 if padded else 1),
        "month": ("M", 2 if padded else 1),
        "year": ("y", 2 if two_digit_year else 1),
    }
    out: list[_Token] = []
    for role in order:
        if out:
            out.append(("chars", sep))
        out.append(("field", widths[role]))
    return tuple(out)


def _replace_fields(tokens: Sequence[_Token], widths: dict[tuple[str, int], int]) -> tuple[_Token, ...]:
    return tuple((k, (v[0], widths.get(v, v[1]))) if k == "field" else (k, v) for k, v in tokens)


def _without_commas(tokens: Sequence[_Token]) -> tuple[_Token, ...]:
    out = []
    for kind, value in tokens:
        if kind == "chars":
            value = re.sub(r" {2,}", " ", value.replace(",", ""))
            if not value:
                continue
        out.append((kind, value))
    return tuple(out)


def _candidates(locale: str) -> list[tuple[str, str]]:
    """All (name, CLDR pattern) pairs for `locale` in priority order, before validation and dedupe.

    Babel's own patterns are passed through verbatim; derived ones are serialised from tokens.
    """
    loc = _locale(locale)
    base = [(name, loc.date_formats[name].pattern) for name in _BASE_NAMES]
    skeletons = [
        (f"skeleton:{key}", loc.datetime_skeletons[key].pattern)
        for key in sorted(loc.datetime_skeletons)
        if set(key) <= set("yMLdEc") and "y" in key and "d" in key and set(key) & set("ML")
    ]
    numeric_source = _tokens(dict(skeletons).get("skeleton:yMd") or base[0][1])
    order = [_ROLE[v[0]] for k, v in numeric_source if k == "field" and v[0] in _ROLE]
    derived = []
    for label, sep in _SEPARATORS:
        for suffix, padded, yy in (
            ("", False, False),
            ("-padded", True, False),
            ("-yy", False, True),
            ("-padded-yy", True, True),
        ):
            if yy and order[0] == "year":
                continue  # "79/5/3" is not a way people write dates in year-first locales
            derived.append((f"numeric-{label}{suffix}", _numeric(order, sep, padded, yy)))
    for name, pattern in base[1:] + skeletons:
        tokens = _tokens(pattern)
        month = _fields(tokens).get("month", ("M", 1))
        if month[1] < 3:
            continue  # the derivations below are for textual months
        if any(k == "chars" and "," in v for k, v in tokens):
            derived.append((f"nocomma:{name}", _without_commas(tokens)))
        if month[1] == 4:
            widths = {(letter, 4): 3 for letter in "MLEc"}
            derived.append((f"abbr:{name}", _replace_fields(tokens, widths)))
        if name in ("medium", "long"):
            derived.append((f"padded:{name}", _replace_fields(tokens, {("d", 1): 2})))
    extra = list(_EXTRA_PATTERNS.get(locale, ()))
    return base + skeletons + [(name, _pattern(tokens)) for name, tokens in derived] + extra


@functools.lru_cache(maxsize=None)
def _formats(locale: str) -> Mapping[str, _Format]:
    """The kept formats of `locale` by name, in priority order; read-only, since it is memoised
    (like :func:`_locale` and :func:`_names`: pure functions of the installed CLDR data)."""
    loc = _locale(locale)
    kept: dict[str, _Format] = {}
    seen: set[tuple[str, ...]] = set()
    for name, pattern in _candidates(locale):
        tokens = _tokens(pattern)
        if not _is_valid(tokens):
            if name in _BASE_NAMES:
                raise RuntimeError(
                    f"Babel's {name!r} date format for {locale} lacks a year, month or "
                    f"day field: {pattern!r}; check the installed Babel version"
                )
            continue
        texts = tuple("".join(t for t, _ in _pieces(d, loc, tokens)) for d in _PROBES)
        if texts in seen and name not in _BASE_NAMES:
            continue
        seen.add(texts)
        cased = any(t.upper() != t or t.lower() != t for t in texts)
        kept[name] = _Format(name, pattern, tokens, cased)
    return types.MappingProxyType(kept)


@functools.lru_cache(maxsize=None)
def _names(locale: str) -> tuple[str, ...]:
    formats = _formats(check_locale(locale)).values()
    cased = [f.name for f in formats if f.cased]
    return tuple(f.name for f in formats) + tuple(f"upper:{n}" for n in cased) + tuple(f"lower:{n}" for n in cased)


def date_formats(locale: str) -> dict[str, str]:
    """CLDR date patterns for `locale`, by format name, before case variants.

    Args:
        locale: one of `LOCALES`.

    Returns:
        A fresh dict from format name (e.g. "long", "skeleton:yMMMEd") to CLDR pattern
        (e.g. "d. MMMM y"), in a fixed order starting with short, medium, long, full.

    Raises:
        ValueError: if `locale` is not one of `LOCALES`.
    """
    return {name: f.pattern for name, f in _formats(check_locale(locale)).items()}


def format_names(locale: str) -> list[str]:
    """Every format name for `locale`, including ``upper:`` and ``lower:`` case variants.

    Raises:
        ValueError: if `locale` is not one of `LOCALES`.
    """
    return list(_names(locale))


def _render(date: datetime.date, locale: str, fmt: _Format, case: str | None, name: str) -> DateExample:
    pieces = _pieces(date, _locale(locale), fmt.tokens)
    spans: dict[str, tuple[int, int]] = {}
    parts = []
    offset = 0
    for text, role in pieces:
        text = text.translate(_SPACES)
        if case is not None:
            text = text.upper() if case == "upper" else text.lower()
        if role is not None:
            spans[role] = (offset, offset + len(text))
        parts.append(text)
        offset += len(text)
    return DateExample(
        text="".join(parts),
        target=date.isoformat(),
        locale=locale,
        fmt=name,
        year_span=spans["year"],
        month_span=spans["month"],
        day_span=spans["day"],
    )


def _lookup(locale: str, fmt: str) -> tuple[_Format, str | None]:
    formats = _formats(check_locale(locale))
    case, _, base = fmt.partition(":") if fmt.startswith(("upper:", "lower:")) else (None, "", fmt)
    found = formats.get(base)
    if found is None or (case is not None and not found.cased):
        raise ValueError(f"unknown date format {fmt!r} for locale {locale}; choose one of: {', '.join(_names(locale))}")
    return found, case


def render(date: datetime.date, locale: str, fmt: str) -> DateExample:
    """Write `date` in format `fmt` of `locale`, with the spans of its fields.

    Args:
        date: a day from `FIRST_DATE` to `LAST_DATE` inclusive.
        locale: one of `LOCALES`.
        fmt: one of ``format_names(locale)``, e.g. "long", "upper:full", "numeric-dot-yy".

    Returns:
        The example; its `text` equals ``babel.dates.format_date(date, pattern, locale=locale)``
        for the format's pattern, with exotic spaces made plain and the case variant applied.

    Raises:
        TypeError: if `date` is not a `datetime.date`.
        ValueError: if the locale or format is unknown (the message lists the valid ones), or
            `date` lies outside the window, where two-digit years would be ambiguous.
    """
    if not isinstance(date, datetime.date):
        raise TypeError(f"date must be a datetime.date, got {type(date).__name__}")
    if isinstance(date, datetime.datetime):
        date = date.date()
    if not FIRST_DATE <= date <= LAST_DATE:
        raise ValueError(
            f"date {date.isoformat()} is outside {FIRST_DATE.isoformat()}.."
            f"{LAST_DATE.isoformat()}, where two-digit years are unambiguous"
        )
    found, case = _lookup(locale, fmt)
    return _render(date, locale, found, case, fmt)


def draw_example(rng: random.Random, locales: Sequence[str]) -> DateExample:
    """One random example: a uniform locale of `locales`, then a uniform format name of that locale
    (:func:`format_names`), then a uniform date from `FIRST_DATE` to `LAST_DATE`.

    Args:
        rng: the generator every draw comes from (three draws per example).
        locales: non-empty, each one of `LOCALES` (not checked here).
    """
    locale = rng.choice(locales)
    name = rng.choice(_names(locale))
    found, case = _lookup(locale, name)
    date = FIRST_DATE + datetime.timedelta(days=rng.randrange(_N_DAYS))
    return _render(date, locale, found, case, name)
