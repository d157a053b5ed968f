"""The Bible corpus: verse alignment on hand-made chapters, filters, split, manifest and cache."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from attnkit.data import bible, verse_align
from attnkit.data.bible import AlignedPair, BibleError, LengthModel, align_verses, build_bible_corpus
from attnkit.data.sword import ModuleInfo, SwordError, Verse, find_module, read_module

MODEL = LengthModel(ratio=1.0, variance=2.0)


def text(n_chars: int, tag: str) -> str:
    """A made-up sentence of exactly `n_chars` characters, unique to `tag`."""
    words = " ".join(f"{tag}{k}" for k in range(n_chars))
    return words[:n_chars].rstrip() + "x" * (n_chars - len(words[:n_chars].rstrip()))


def verses(book: str, chapter: int, lengths: list[int], tag: str) -> list[Verse]:
    return [
        Verse(book, chapter, v, text(n, f"{tag}{chapter}.{v}.") if n else "") for v, n in enumerate(lengths, start=1)
    ]


def pairs_of(aligned: list[AlignedPair]) -> list[tuple[str, str]]:
    return [(p.src_ref, p.tgt_ref) for p in aligned if p.src and p.tgt]


def test_a_normal_chapter_is_paired_by_id():
    lengths = [40, 95, 60, 130, 75, 50, 110, 85, 45, 140, 70, 66]
    tgt_lengths = [round(n * 1.1) for n in lengths]
    tgt_lengths[3] = 60  # one verse far shorter in translation (a postscript on the source side)
    aligned = align_verses(
        verses("Gen", 1, lengths, "es"), verses("Gen", 1, tgt_lengths, "en"), model=LengthModel(ratio=1.1, variance=2.0)
    )
    assert all(p.by_id and p.bead == "1-1" for p in aligned)
    assert pairs_of(aligned) == [(f"Gen 1:{v}", f"Gen 1:{v}") for v in range(1, 13)]


def test_lengths_that_merely_suggest_a_shift_do_not_beat_equal_references(monkeypatch):
    # The lengths of RV1909's and the WEB's 1 Cor 13:3-8: a 1-2, three shifted 1-1 and a 2-1
    # bead fit them better than id pairing; the same-reference bonus keeps them paired by id.
    src = verses("1Cor", 13, [141, 108, 66, 58, 61, 120], "es")
    tgt = verses("1Cor", 13, [125, 80, 107, 64, 80, 183], "en")
    model = LengthModel(ratio=1.04, variance=2.0)
    assert all(p.by_id for p in align_verses(src, tgt, model=model))
    monkeypatch.setattr(verse_align, "SAME_REF_BONUS", 0.0)
    assert [p.bead for p in align_verses(src, tgt, model=model)] == ["1-2", "1-1", "1-1", "1-1", "2-1"]


def test_a_shifted_chapter_with_an_empty_slot_and_a_merged_verse_is_recovered():
    # Like RV1909's Jonah: the source's 1:5 slot is empty, its 2:1 holds the target's 1:5, the
    # rest of chapter 2 is one verse behind, and its last verse holds the target's last two.
    tgt = verses("Jonah", 1, [70, 55, 120, 64, 98], "en") + verses("Jonah", 2, [45, 130, 62, 88, 51, 77], "en")
    by_ref = {(v.chapter, v.verse): len(v.text) for v in tgt}
    src_1 = [by_ref[1, v] for v in range(1, 5)] + [0]
    src_2 = [by_ref[1, 5]] + [by_ref[2, v] for v in range(1, 5)] + [by_ref[2, 5] + by_ref[2, 6] + 1]
    src = verses("Jonah", 1, src_1, "es") + verses("Jonah", 2, src_2, "es")
    aligned = align_verses(src, tgt, model=MODEL)
    assert pairs_of(aligned) == (
        [(f"Jonah 1:{v}", f"Jonah 1:{v}") for v in range(1, 5)]
        + [("Jonah 2:1", "Jonah 1:5")]
        + [(f"Jonah 2:{v + 1}", f"Jonah 2:{v}") for v in range(1, 5)]
        + [("Jonah 2:6", "Jonah 2:5-6")]
    )
    assert [p.bead for p in aligned if not p.tgt] == ["1-0"]  # the empty slot, deleted
    merged = aligned[-1]
    assert merged.bead == "1-2" and merged.tgt == f"{tgt[-2].text} {tgt[-1].text}"
    assert [p.by_id for p in aligned if p.src and p.tgt] == [True] * 4 + [False] * 6


def test_a_long_merged_verse_and_a_shift_across_chapters():
    # Like RV1909's Job 39:30: one source verse holds three target verses, after which the
    # source runs two verses behind until the empty slots at the end of the next chapter.
    tgt = verses("Job", 39, [60, 82, 71, 90, 58], "en") + verses("Job", 40, [77, 64, 101, 55, 83, 69], "en")
    n = {(v.chapter, v.verse): len(v.text) for v in tgt}
    src = verses("Job", 39, [n[39, 1], n[39, 2], n[39, 3], n[39, 4] + n[39, 5] + n[40, 1] + 2, 0], "es") + verses(
        "Job", 40, [n[40, v] for v in range(2, 7)] + [0], "es"
    )
    aligned = align_verses(src, tgt, model=MODEL)
    assert pairs_of(aligned) == (
        [(f"Job 39:{v}", f"Job 39:{v}") for v in range(1, 4)]
        + [("Job 39:4", "Job 39:4-40:1")]
        + [(f"Job 40:{v}", f"Job 40:{v + 1}") for v in range(1, 6)]
    )


def test_a_verse_one_translation_omits_does_not_shift_its_neighbours():
    # Like the WEB's empty Acts 8:37: the lengths alone would pair the source's 8:37 with 8:38.
    src = verses("Acts", 8, [80, 130, 86, 70], "es")
    tgt = verses("Acts", 8, [82, 0, 129, 72], "en")
    aligned = align_verses(src, tgt, model=MODEL)
    assert all(p.by_id for p in aligned)
    assert [bool(p.tgt) for p in aligned] == [True, False, True, True]


def test_the_length_model_is_estimated_from_id_pairs():
    rng = random.Random(0)
    lengths = [rng.randint(20, 200) for _ in range(400)]
    src = verses("Gen", 1, lengths, "es")
    tgt = verses("Gen", 1, [round(1.2 * n + rng.gauss(0, 0.5 * n**0.5)) for n in lengths], "en")
    model = LengthModel.estimate(src, tgt)
    assert model.ratio == pytest.approx(1.2, abs=0.02)
    assert 0.1 < model.variance < 1.0
    assert LengthModel.estimate([], []) == LengthModel()  # no data: the paper's values


def test_normalise_text_splits_glued_words_and_drops_pilcrows():
    assert bible.normalise_text(" ¶ que esRamat  del\tmediodía ") == "que es Ramat del mediodía"
    assert bible.normalise_text("In the beginning, God created") == "In the beginning, God created"


# --- the whole corpus, with a fake reader ---------------------------------------------------


def fake_bible(n_per_book: int = 30, extra: dict | None = None):
    """A reader for two made-up modules "es" and "en": books Gen and Exod in both, Tob only in
    "en"; `extra` maps a reference to (source text, target text) replacing the made-up ones."""
    rng = random.Random(1)
    lengths = {book: [rng.randint(15, 90) for _ in range(n_per_book)] for book in ("Gen", "Exod", "Tob")}
    extra = extra or {}

    def read(name: str):
        if name not in ("es", "en"):
            raise SwordError(f"SWORD module {name} not found; install it with `sudo apt-get install x`")
        books = ("Gen", "Exod") if name == "es" else ("Gen", "Exod", "Tob")
        out = []
        for book in books:
            for v, v_text in enumerate(verses(book, 1, lengths[book], name), start=1):
                if (book, v) in extra:
                    v_text = Verse(book, 1, v, extra[book, v][name == "en"])
                out.append(v_text)
        return ModuleInfo(name, "1.0", "2024-01-01", "KJV", name, "/nowhere"), out

    return read


def build(out, **kwargs):
    options = {
        "seed": 7,
        "n_dev": 5,
        "n_test": 5,
        "max_words": 20,
        "max_ratio": 2.0,
        "min_train": 10,
        "read": fake_bible(),
    } | kwargs
    return build_bible_corpus("es", "en", out, **options)


def read_split(out, split):
    return [(out / f"{split}.{side}").read_text(encoding="utf-8").splitlines() for side in ("src", "tgt")]


def test_filters_drop_and_count_each_reason(tmp_path):
    extra = {
        ("Gen", 3): ("", "only the target has this verse"),
        ("Gen", 4): (" ".join(["palabra"] * 21), " ".join(["word"] * 20)),
        ("Gen", 5): ("uno dos tres cuatro cinco", "one two"),
        ("Gen", 6): ("¶ Y  dijo\tDios:   hágase", "And God said: let it be"),
    }
    manifest = build(tmp_path, read=fake_bible(extra=extra))
    assert manifest["dropped"] == {
        "book only in source": 0,
        "book only in target": 30,
        "empty side": 1,
        "too long": 1,
        "length ratio": 1,
        "duplicate held-out pair": 0,
    }
    lines = {
        ref: src
        for split in bible.SPLITS
        for ref, src in zip((tmp_path / f"refs.{split}.txt").read_text().splitlines(), read_split(tmp_path, split)[0])
    }
    assert lines["Gen 1:6"] == "Y dijo Dios: hágase"
    assert not {"Gen 1:3", "Gen 1:4", "Gen 1:5"} & set(lines)
    counts = manifest["counts"]
    assert counts["aligned"] == 59 and counts["kept"] == 57
    assert counts["train"] + counts["dev"] + counts["test"] == counts["kept"]


def test_files_are_parallel_and_the_manifest_holds_their_checksums(tmp_path):
    manifest = build(tmp_path)
    assert manifest == {**json.loads((tmp_path / "manifest.json").read_text()), "up_to_date": False}
    assert set(manifest["files"]) == {f"{s}.{x}" for s in bible.SPLITS for x in ("src", "tgt")} | {
        f"refs.{s}.txt" for s in bible.SPLITS
    }
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
    for split in bible.SPLITS:
        src, tgt = read_split(tmp_path, split)
        refs = (tmp_path / f"refs.{split}.txt").read_text().splitlines()
        assert len(src) == len(tgt) == len(refs) == manifest["counts"][split]
        assert all(ref.split(":")[0].split()[1] == "1" for ref in refs)
    assert manifest["source"] == {
        "name": "es",
        "version": "1.0",
        "date": "2024-01-01",
        "versification": "KJV",
        "language": "es",
    }
    assert manifest["parameters"]["seed"] == 7 and manifest["alignment"]["realigned"] == 0
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_the_split_is_deterministic_and_held_out_sources_do_not_occur_in_train(tmp_path):
    formula = ("Y habló Jehová á Moisés, diciendo:", "Yahweh spoke to Moses, saying,")
    extra = {("Gen", v): formula for v in range(1, 31, 3)}
    first = build(tmp_path / "a", read=fake_bible(extra=extra), n_dev=8, n_test=8)
    again = build(tmp_path / "b", read=fake_bible(extra=extra), n_dev=8, n_test=8)
    other = build(tmp_path / "c", read=fake_bible(extra=extra), n_dev=8, n_test=8, seed=8)
    assert first["files"] == again["files"] and first["files"] != other["files"]
    train_src = set(read_split(tmp_path / "a", "train")[0])
    held = [pair for split in ("dev", "test") for pair in zip(*read_split(tmp_path / "a", split))]
    assert formula[0] in train_src and not {src for src, _ in held} & train_src
    assert len(set(held)) == len(held)
    moved = first["held_out"]["source also in train (moved to train)"]
    assert moved > 0 and first["counts"]["dev"] + first["counts"]["test"] + moved == 16


def test_repeated_pairs_within_the_held_out_side_are_dropped(tmp_path):
    formula = ("Y habló Jehová á Moisés, diciendo:", "Yahweh spoke to Moses, saying,")
    manifest = build(
        tmp_path,
        read=fake_bible(n_per_book=4, extra={("Gen", 1): formula, ("Exod", 1): formula}),
        n_dev=0,
        n_test=8,
        min_train=0,
    )
    assert manifest["dropped"]["duplicate held-out pair"] == 1
    assert manifest["counts"] == {"aligned": 8, "kept": 8, "train": 0, "dev": 0, "test": 7}


def test_an_up_to_date_corpus_is_not_rewritten_unless_forced(tmp_path, monkeypatch):
    build(tmp_path)
    writes = []
    real_atomic_path = bible.atomic_path
    monkeypatch.setattr(bible, "atomic_path", lambda path: writes.append(path) or real_atomic_path(path))
    assert build(tmp_path)["up_to_date"] and writes == []
    assert not build(tmp_path, force=True)["up_to_date"] and len(writes) == 9
    assert not build(tmp_path, seed=8)["up_to_date"]  # other parameters
    with (tmp_path / "dev.tgt").open("a") as fh:
        fh.write("tampered\n")
    rebuilt = build(tmp_path, seed=8)
    assert not rebuilt["up_to_date"]
    assert hashlib.sha256((tmp_path / "dev.tgt").read_bytes()).hexdigest() == rebuilt["files"]["dev.tgt"]


def test_too_few_pairs_and_bad_options_are_errors(tmp_path):
    with pytest.raises(BibleError, match="only 60 usable verse pairs.*lower --n-dev/--n-test"):
        build(tmp_path, min_train=1000)
    with pytest.raises(ValueError, match="max_ratio >= 1"):
        build(tmp_path, max_ratio=0.5)
    with pytest.raises(SwordError, match="apt-get install"):
        build_bible_corpus("es", "nope", tmp_path, read=fake_bible())
    assert not list(tmp_path.iterdir())


# --- the real modules, where installed ------------------------------------------------------


def _installed(*names: str) -> bool:
    try:
        for name in names:
            find_module(name)
    except SwordError:
        return False
    return True


@pytest.mark.skipif(
    not _installed("spaRV1909eb", "engWEB2015eb"), reason="needs sword-text-sparv and sword-text-web (apt-get install)"
)
def test_real_modules_known_renumberings_are_aligned():
    (_, es), (_, en) = read_module("spaRV1909eb"), read_module("engWEB2015eb")
    model = LengthModel.estimate(es, en)

    def book(name):
        aligned = align_verses([v for v in es if v.book == name], [v for v in en if v.book == name], model=model)
        return {p.src_ref: p for p in aligned if p.src and p.tgt}

    jonah, num, job, gen = book("Jonah"), book("Num"), book("Job"), book("Gen")
    assert jonah["Jonah 2:1"].tgt_ref == "Jonah 1:17" and "gran pez" in jonah["Jonah 2:1"].src
    assert jonah["Jonah 2:1"].tgt.startswith("Yahweh prepared a huge fish")
    assert [jonah[f"Jonah 2:{v}"].tgt_ref for v in range(2, 11)] == [f"Jonah 2:{v}" for v in range(1, 9)] + [
        "Jonah 2:9-10"
    ]
    assert num["Num 30:1"].tgt_ref == "Num 29:40" and num["Num 30:2"].tgt_ref == "Num 30:1"
    assert num["Num 29:39"].by_id
    assert job["Job 39:1"].tgt_ref == "Job 38:39" and job["Job 39:29"].tgt_ref == "Job 39:26"
    assert job["Job 40:1"].tgt_ref == "Job 40:6" and job["Job 40:1"].tgt.startswith("Then Yahweh answered Job")
    assert job["Job 40:19"].tgt_ref == "Job 40:24"
    assert all(job[f"Job 41:{v}"].by_id for v in range(1, 35))
    assert (
        all(p.by_id for ref, p in gen.items() if ref.startswith("Gen 1:"))
        and len([r for r in gen if r.startswith("Gen 1:")]) == 31
    )
