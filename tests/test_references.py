"""Every citation key used in src/ (``[Luong15]``, ``[Kudo18b]``, ``[Luong15; Xu15]``, ...) is
defined in docs/references.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(r"^([A-Z][A-Za-z]+\d{2}[a-z]?)(?:\s.*)?$")  # Name99 or Name99b, then e.g. " Sec. 3"
BRACKETS = re.compile(r"\[([^\[\]\n]{1,120})\]")
DEFINED = re.compile(r"^- \*\*\[([^\]]+)\]\*\*", re.MULTILINE)


def citation_keys(text: str) -> set[str]:
    """Keys cited in `text`: inside square brackets, each part between ';' or ',' that starts
    with a capitalised name and a two-digit year (so `[0]`, `[B, T]`, `["a", "b"]` are not)."""
    keys = set()
    for inside in BRACKETS.findall(text):
        for part in re.split(r"[;,]", inside):
            match = KEY.match(part.strip())
            if match:
                keys.add(match.group(1))
    return keys


def test_citation_keys_are_found_and_non_citations_are_not():
    text = """[Luong15] Eq. 8; x[0]; (B, T) [B, T]; ["a", "b"]; [Luong15 Sec. 3, Xu15]; [Kudo18b] and
    "[Bahdanau15] App. A.1.2"; [Luong15] Sec. 3; [Chaudhari21] Sec. 4.3; weights[:, 0]; [UTS35]; [T5]"""
    assert citation_keys(text) == {"Luong15", "Xu15", "Kudo18b", "Bahdanau15", "Chaudhari21", "UTS35"}


def test_every_key_cited_in_src_is_defined_in_docs_references():
    defined = set(DEFINED.findall((ROOT / "docs" / "references.md").read_text(encoding="utf-8")))
    missing = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for key in citation_keys(path.read_text(encoding="utf-8")) - defined:
            missing.setdefault(key, path.relative_to(ROOT).as_posix())
    assert not missing, f"cited in src/ but not defined in docs/references.md: {missing}"
    assert len(defined) >= 30  # the pattern really reads the list
