"""SWORD verse cleaning: footnotes, drop caps, book ends, and the missing-module message."""

from collections import Counter

import pytest

from attnkit.data.sword import SwordError, clean_osis, find_module, undo_drop_cap


def test_footnote_between_words_becomes_a_space():
    raw = (
        '<w lemma="strong:H0430">God</w><note placement="foot"><reference type="annotateRef">1:1 '
        "</reference>The Hebrew word rendered “God” is “אֱלֹהִ֑ים” (Elohim).</note><w>created</w> the earth."
    )
    assert clean_osis(raw) == "God created the earth."


def test_footnote_after_a_comma_or_before_punctuation():
    assert clean_osis("She conceived,<note>n</note>and gave birth") == "She conceived, and gave birth"
    assert clean_osis("the earth<note>n</note>. And") == "the earth. And"


def test_titles_lines_and_markup_become_plain_text():
    raw = (
        '<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="a"/><l level="1"/>'
        'Yahweh, how <w>my</w> adversaries<l eID="x"/><l level="2"/>rise ¶ up &amp; more!'
    )
    assert clean_osis(raw) == "A Psalm by David. Yahweh, how my adversaries rise up & more!"


def test_text_after_the_end_of_the_chapter_is_dropped():
    raw = 'Amen. <chapter eID="Rev.22"/> <div type="glossary"/> Aaron: the brother of Moses…'
    assert clean_osis(raw) == "Amen."


def _forms(*texts):
    upper, other = Counter(), Counter()
    for text in texts:
        for word in text.split():
            (upper if len(word) >= 2 and word.isupper() else other)[word] += 1
    return upper, other


def test_drop_caps_take_the_modules_usual_form():
    upper, other = _forms("el principio", "dijo Moisés a Moisés", "la segunda suerte", "LORD LORD Lord")
    assert undo_drop_cap("EN el principio", upper, other) == "En el principio"
    assert undo_drop_cap("Y MOISÉS dijo", upper, other) == "Y Moisés dijo"  # a name stays a name
    assert undo_drop_cap("LA SEGUNDA suerte", upper, other) == "La segunda suerte"  # a run of capitals
    assert undo_drop_cap("Salmo. Yo DIJE: algo", upper, other) == "Salmo. Yo dije: algo"


def test_capitals_by_design_and_later_words_are_kept():
    upper, other = _forms("LORD LORD Lord", "ciudad")
    assert undo_drop_cap("O LORD my God", upper, other) == "O LORD my God"
    assert undo_drop_cap("en la iglesia de la ciudad de EFESO", upper, other) == "en la iglesia de la ciudad de EFESO"


def test_missing_module_names_the_apt_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SWORD_PATH", str(tmp_path))
    monkeypatch.setattr("attnkit.data.sword.Path.home", lambda: tmp_path)
    monkeypatch.setattr("attnkit.data.sword.sword_paths", lambda: [tmp_path])
    with pytest.raises(SwordError, match="apt-get install sword-text-sparv"):
        find_module("spaRV1909eb")


def test_translator_additions_written_against_words_are_separated():
    from attnkit.data.sword import SPANISH_ENCLITICS

    raw = (
        '<w lemma="a">allí</w><transChange type="added">también</transChange> <w>Jesucristo</w>'
        '<transChange type="added">sea</transChange> y <w>díjo</w><transChange>le</transChange> <w>a</w><w>b</w>'
    )
    assert clean_osis(raw, SPANISH_ENCLITICS) == "allí también Jesucristo sea y díjole ab"
