"""Read SWORD Bible modules (Debian's ``sword-text-*`` packages) as clean verse text.

`pysword` reads the compressed module; this file turns each verse's OSIS markup into plain text:
footnotes are removed without gluing the words around them together (the WEB's "God<note>…</note>
created" reads "God created", not "Godcreated"), canonical psalm titles are kept, chapter-initial
drop caps are undone ("EN el principio" -> "En el principio", "Y MOISÉS dijo" -> "Y Moisés dijo"),
and anything after the end of a book (the WEB appends its glossary to Rev 22:21) is cut off.

Reading a whole module takes about 35-50 s on a 2-core machine, so :func:`read_module` caches
the cleaned verses as gzipped JSON lines keyed by the module's name and version.
"""

from __future__ import annotations

import gzip
import html
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..io import atomic_path
from ..progress import progress

__all__ = [
    "Verse",
    "ModuleInfo",
    "SwordError",
    "DEBIAN_PACKAGES",
    "find_module",
    "read_module",
    "clean_osis",
    "undo_drop_cap",
    "sword_paths",
]

# Module name -> the Debian package that installs it.
DEBIAN_PACKAGES = {
    "spaRV1909eb": "sword-text-sparv",
    "engWEB2015eb": "sword-text-web",
    "engKJV2006eb": "sword-text-kjv",
}
_CACHE_VERSION = 7


class SwordError(RuntimeError):
    """A SWORD module that cannot be found or read; the message says how to fix it."""


@dataclass(frozen=True)
class Verse:
    """One verse: OSIS book id (``Gen``), chapter and verse numbers, cleaned text ("" if empty)."""

    book: str
    chapter: int
    verse: int
    text: str

    @property
    def ref(self) -> str:
        return f"{self.book} {self.chapter}:{self.verse}"


@dataclass(frozen=True)
class ModuleInfo:
    """What identifies a module's text: name, version, date, versification, language."""

    name: str
    version: str
    date: str
    versification: str
    language: str
    path: str


def sword_paths() -> list[Path]:
    """Where SWORD modules are looked for: ``$SWORD_PATH`` (``:``-separated), then
    ``~/.sword`` and ``/usr/share/sword``."""
    env = [Path(p) for p in os.environ.get("SWORD_PATH", "").split(os.pathsep) if p]
    return env + [Path.home() / ".sword", Path("/usr/share/sword")]


def _install_hint(names) -> str:
    pkgs = sorted({DEBIAN_PACKAGES.get(n, "") for n in names} - {""})
    if pkgs:
        return f"install it with `sudo apt-get install {' '.join(pkgs)}`"
    return "install the module into ~/.sword or set SWORD_PATH to the folder holding its mods.d"


def find_module(name: str):
    """The pysword `SwordBible` of module `name` and its :class:`ModuleInfo`.

    Raises:
        SwordError: if pysword is missing, or no searched folder holds the module (the message
            gives the ``apt-get install`` line for the known Debian packages).
    """
    try:
        from pysword.modules import SwordModules
    except ImportError:  # pragma: no cover - a declared dependency
        raise SwordError("the Python package pysword is missing; `pip install pysword`") from None
    for root in sword_paths():
        if not (root / "mods.d").is_dir():
            continue
        modules = SwordModules(str(root))
        try:
            found = modules.parse_modules()
        except Exception:  # a broken mods.d elsewhere must not hide a good one  # noqa: BLE001
            continue
        if name in found:
            conf = found[name]
            info = ModuleInfo(
                name,
                conf.get("version", "?"),
                conf.get("swordversiondate", "?"),
                conf.get("versification", "KJV"),
                conf.get("lang", "?"),
                str(root),
            )
            try:
                return modules.get_bible_from_module(name), info
            except Exception as err:  # noqa: BLE001 - pysword raises bare exceptions
                raise SwordError(
                    f"SWORD module {name} in {root} cannot be read ({err}); reinstall it: {_install_hint([name])}"
                ) from None
    searched = ", ".join(str(p) for p in sword_paths())
    raise SwordError(f"SWORD module {name} not found (searched {searched}); {_install_hint([name])}")


_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)
_NOTE_MARK = "\x00"
_BREAK = re.compile(r"<(?:/?l|/?lg|lb|/?div|/?p|/?list|/?item|milestone|/?title)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?])")
_WORD_CHAR = re.compile(r"\w|[“‘«¿¡(]")


# Spanish object pronouns written joined to the verb ("díjole"): a translator's addition
# (<transChange>) that is one of these stays attached to the word before it.
SPANISH_ENCLITICS = frozenset({"lo", "la", "le", "los", "las", "les", "me", "te", "se", "nos", "os"})
_GLUED = re.compile(r"(?<=\w)(</w>|</transChange>)(<(?:w|transChange)\b[^>]*>)(?=(\w+))")


def _unglue(match: re.Match, enclitics: frozenset) -> str:
    """A space between a word element and an adjacent translator's addition, unless the second is
    an enclitic pronoun."""
    closing, opening, following = match.group(1), match.group(2), match.group(3)
    if closing[2:-1] == opening[1:].split()[0].rstrip(">"):  # </w><w>: the module's own tokens
        return closing + opening
    if following.lower() in enclitics:
        return closing + opening
    return closing + " " + opening


def clean_osis(raw: str, enclitics: frozenset = frozenset()) -> str:
    """Plain text of one verse's OSIS markup.

    Footnotes (``<note>``) are dropped; where one sat between two words with no space around it,
    a space takes its place. Line, paragraph and title elements become spaces, every other tag
    is removed keeping its content, entities are unescaped, the pilcrow ¶ is dropped, and
    whitespace is collapsed. Text after ``<chapter eID=…>`` (the end of the chapter) is ignored.
    A word element and a translator's addition (``<transChange>``) written against each other
    ("allí</w><transChange>también") get a space between them, unless the addition is one of
    `enclitics` ("díjo" + "le" -> "díjole").
    """
    end = raw.find("<chapter eID")
    if end >= 0:
        raw = raw[:end]
    raw = _GLUED.sub(lambda m: _unglue(m, enclitics), raw)
    raw = _NOTE.sub(_NOTE_MARK, raw)
    raw = _BREAK.sub(" ", raw)
    raw = _TAG.sub("", raw)
    out = []
    for i, ch in enumerate(raw):  # a removed note becomes a space only between two words
        if ch == _NOTE_MARK:
            before = raw[i - 1] if i else " "
            after = raw[i + 1] if i + 1 < len(raw) else " "
            if re.match(r"[\w,.;:!?”’)]", before) and _WORD_CHAR.match(after):
                out.append(" ")
            continue
        out.append(ch)
    text = html.unescape("".join(out)).replace("¶", " ")
    text = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def _word_forms(texts: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """Counts of each word's forms in `texts`: all-capitals forms, and any other form."""
    upper: Counter[str] = Counter()
    other: Counter[str] = Counter()
    for text in texts:
        for word in _WORD.findall(text):
            (upper if len(word) >= 2 and word.isupper() else other)[word] += 1
    return upper, other


_WORD = re.compile(r"[^\W\d_]+")


def undo_drop_cap(text: str, upper_elsewhere: Counter[str], other_forms: Counter[str]) -> str:
    """Undo the printed drop cap of a chapter's first verse.

    The drop cap is the first word in capitals among the first three words of a sentence (so
    "EN el principio", "Y MOISÉS dijo", "De SIETE años", and "Yo DIJE" after a psalm title) that
    the module writes in capitals no more often than otherwise elsewhere, with any such words
    right after it ("LA SEGUNDA suerte"). It takes the form the module
    uses elsewhere, title case if that is more common than lower case (so names stay names), with
    a capital when it opens a sentence: "En el principio", "Y Moisés dijo", "De siete años".
    Words in capitals by design, such as the KJV's "LORD", are left alone.

    Args:
        text: the verse.
        upper_elsewhere: counts of all-capitals words in the module's other verses.
        other_forms: counts of all other word forms in the module's other verses.
    """
    since_boundary, fixing, last = 0, False, 0
    out: list[str] = []
    for match in re.finditer(r"\S+", text):
        token = match.group()
        core = _WORD.search(token)
        word = core.group() if core else ""
        lower, title = word.lower(), word[:1] + word[1:].lower()
        rare = upper_elsewhere[word] <= other_forms[title] + other_forms[lower]
        capitals = len(word) >= 2 and word.isupper() and rare
        # the drop cap, and the capitals right after it (capitals: `core` matched a word)
        if core is not None and capitals and (fixing or since_boundary < 3):
            start = match.start() + core.start()
            opens = since_boundary == 0 and not out
            out += [text[last:start], title if opens or other_forms[title] > other_forms[lower] else lower]
            last, fixing = start + len(word), True
        elif fixing:
            break
        since_boundary = 0 if token[-1] in ".!?:" else since_boundary + 1
    return "".join(out) + text[last:]


def _cache_file(info: ModuleInfo, cache_dir: Path) -> Path:
    safe = re.sub(r"[^\w.-]", "_", f"{info.name}-{info.version}-{info.date}")
    return cache_dir / f"{safe}.v{_CACHE_VERSION}.jsonl.gz"


def default_cache_dir() -> Path:
    """``$ATTNKIT_CACHE`` or ``$XDG_CACHE_HOME/attnkit`` or ``~/.cache/attnkit``."""
    if os.environ.get("ATTNKIT_CACHE"):
        return Path(os.environ["ATTNKIT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "attnkit"


def read_module(name: str, *, cache_dir: str | Path | None = None) -> tuple[ModuleInfo, list[Verse]]:
    """Every verse slot of SWORD module `name`, in canonical order, with cleaned text.

    Verses the module leaves empty (content moved to a neighbouring slot by the versification)
    are returned with text "". The result is cached under ``cache_dir/sword`` (default
    :func:`default_cache_dir`) and re-read only when the module's version changes.

    Raises:
        SwordError: if the module is missing or unreadable (see :func:`find_module`).
    """
    bible, info = find_module(name)
    cache = _cache_file(info, Path(cache_dir or default_cache_dir()) / "sword")
    if cache.is_file():
        try:
            with gzip.open(cache, "rt", encoding="utf-8") as fh:
                return info, [Verse(*json.loads(line)) for line in fh]
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache is rebuilt below
    verses = []
    enclitics = SPANISH_ENCLITICS if info.language == "es" else frozenset()
    try:
        books = [book for testament in bible.get_structure().get_books().values() for book in testament]
        for book in progress(books, desc=f"read {name}", unit="book"):  # a bar on a terminal, else log lines
            for ch in range(1, book.num_chapters + 1):
                for v in range(1, book.chapter_lengths[ch - 1] + 1):
                    raw = bible.get(books=[book.osis_name], chapters=[ch], verses=[v], clean=False)
                    verses.append(Verse(book.osis_name, ch, v, clean_osis(raw, enclitics)))
    except Exception as err:  # noqa: BLE001 - pysword raises bare exceptions on damaged files
        raise SwordError(f"SWORD module {name} cannot be read ({err}); reinstall it: {_install_hint([name])}") from None
    upper, other = _word_forms(v.text for v in verses if v.verse != 1)
    verses = [
        Verse(v.book, v.chapter, v.verse, undo_drop_cap(v.text, upper, other)) if v.verse == 1 else v for v in verses
    ]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as fh:
        for verse in verses:
            fh.write(json.dumps([verse.book, verse.chapter, verse.verse, verse.text], ensure_ascii=False) + "\n")
    return info, verses
