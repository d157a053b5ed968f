"""The bible-chapters task (attnkit.data.bible_chapters, attnkit.tasks.bible_chapters): the chapters,
labels and split of bible-sections, each chapter one sequence of subwords; runs on the small fake
module of tests/data/test_bible_sections.py, never on an installed SWORD module."""

from __future__ import annotations

import json

import pytest
import torch

from attnkit.config import TrainConfig
from attnkit.data.bible_sections import BOOK_SECTION
from attnkit.errors import ConfigError, InputError
from attnkit.models.encoder_classifier import EncoderClassifierConfig, EncoderClassifierFamily
from attnkit.tasks.base import LossContext
from attnkit.tasks.bible_chapters import BibleChaptersTask, ChaptersConfig
from attnkit.tasks.bible_sections import BibleSectionsTask, SectionsConfig
from tests.data.test_bible_sections import fake_read, fake_verses


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    run = tmp_path_factory.mktemp("chapters")
    task, splits = BibleChaptersTask.build(
        ChaptersConfig(module="fakeWEB", seed=7, vocab_size=120), run, read=fake_read
    )
    return run, task, splits


def test_same_chapters_labels_and_split_as_bible_sections(built, tmp_path):
    _, _, splits = built
    _, sections = BibleSectionsTask.build(SectionsConfig(module="fakeWEB", seed=7), tmp_path, read=fake_read)
    for split in ("train", "dev", "test"):
        assert [(c.ref, c.label) for c in splits[split]] == [(c.ref, c.label) for c in sections[split]]
    assert all(c.label == BOOK_SECTION[c.book] for s in splits.values() for c in s)


def test_a_chapter_is_its_verses_joined_in_order(built):
    _, _, splits = built
    verses = fake_verses()
    chapter = splits["train"][0]
    expected = " ".join(v.text for v in verses if (v.book, v.chapter) == (chapter.book, chapter.chapter) and v.text)
    assert chapter.text == expected


def test_run_folder_reloads_and_counts_subwords(built):
    run, task, splits = built
    assert BibleChaptersTask.load_split(run, "dev") == splits["dev"]
    again = BibleChaptersTask.load(task.config, run)
    assert again.subwords.encode_ids(splits["dev"][0].text) == task.subwords.encode_ids(splits["dev"][0].text)
    meta = json.loads((run / "dataset.json").read_text())
    lengths = [len(task.subwords.encode_ids(c.text)) for s in splits.values() for c in s]
    assert meta["subwords_per_chapter"]["min"] == min(lengths)
    assert meta["subwords_per_chapter"]["max"] == max(lengths)


def test_items_are_one_sentence_documents_cut_at_max_tokens(built):
    _, task, splits = built
    short = BibleChaptersTask(task.subwords, ChaptersConfig(max_tokens=5))
    items = short.encode(splits["train"][:3])
    assert all(len(ids) == 5 for ids, _ in items)  # every fake chapter has more than 5 subwords
    batch = short.collate(items)
    assert batch.tokens.shape == (3, 1, 5)
    assert batch.sentence_lengths.tolist() == [[5], [5], [5]] and batch.n_sentences.tolist() == [1, 1, 1]


def test_model_trains_evaluates_and_predicts(built):
    _, task, splits = built
    cfg = EncoderClassifierConfig(word_dim=16, d_model=16, n_heads=2, layers=1, d_ff=32, max_words=512)
    torch.manual_seed(0)
    model = EncoderClassifierFamily.build(cfg, task.spec)
    loss = task.loss(model, task.collate(task.encode(splits["train"][:4])), LossContext(TrainConfig()))
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    metrics, preds = task.evaluate(model, splits["dev"])
    assert metrics["n"] == len(splits["dev"]) == len(preds)
    assert sum(r["n"] for r in metrics["by_length"]) == len(splits["dev"])
    assert any("accuracy by length" in line for line in task.report(metrics, detailed=True))
    (pred,) = task.predict(model, ["In the beginning God created the heavens and the earth."])
    assert pred.output in task.classes
    assert float(pred.word_weights.sum()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError, match="input 1 is empty"):
        task.predict(model, ["   "])


@pytest.mark.parametrize(
    "override,message",
    [
        ({"vocab_size": 50}, "data.vocab_size must be >= 100"),
        ({"max_tokens": 0}, "data.max_tokens must be >= 1"),
        ({"dev_fraction": 0.0}, "data.dev_fraction and data.test_fraction"),
    ],
)
def test_bad_options_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as err:
        ChaptersConfig(**override).check()
    assert message in str(err.value) and "\n" not in str(err.value)
