"""Masked-language-model pretraining (data.task: mlm) and fine-tuning from it (train.init_from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from attnkit.config import load_config
from attnkit.data import unlabelled
from attnkit.data.masking import MaskingRule, mask_batch
from attnkit.data.sblgnt import find_sblgnt, read_sblgnt
from attnkit.errors import ConfigError
from attnkit.models import FAMILIES
from attnkit.models.specs import DocumentSpec, TaggingSpec
from attnkit.tasks.base import LossContext
from attnkit.tasks.bible_sections import BibleSectionsTask, SectionsConfig
from attnkit.tasks.pretraining import MaskedLMTask, PretrainConfig
from attnkit.training.init_from import init_from_run
from attnkit.training.pipeline import train_run
from attnkit.training.run import load_run
from tests.data.test_bible_sections import fake_read

TINY = [
    "model.word_dim=8",
    "model.char_dim=6",
    "model.d_model=16",
    "model.n_heads=2",
    "model.layers=1",
    "model.d_ff=16",
]
STEPS = ["train.max_steps=2", "train.eval_every=2", "train.batch_size=4"]
BOOK = ["data.split=book", "data.dev_books=[2Cor, 1Pet]", "data.test_books=[Mark, Heb, Jas]"]


# chapters 1-2 of Matthew, Mark, John, 2 Corinthians, Hebrews, James and 1 Peter (ids nBBCCCVVVWWW)
BOOKS = {"40": "Matt", "41": "Mark", "43": "John", "47": "2Cor", "58": "Heb", "59": "Jas", "60": "1Pet"}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    """A small token table of the SBLGNT layout: some chapters of the installed wheel's."""
    lines = find_sblgnt().read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[0]] + [x for x in lines[1:] if x[1:3] in BOOKS and x[3:6] in ("001", "002")]
    path = tmp_path_factory.mktemp("table") / "SBLGNT.tsv"
    path.write_text("".join(kept), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, table) -> Path:
    """A tiny MLM run on the small table without the tagging book split's dev and test books."""
    run = tmp_path_factory.mktemp("mlm") / "pretrain-grc"
    overrides = ["data.task=mlm", f"data.table={table}", *BOOK, "data.min_freq=1", "model.tie_word_head=true"]
    train_run(load_config(None, [*overrides, *TINY, *STEPS]), run, progress=False)
    return run


def test_no_dev_or_test_verse_of_the_tagging_split_is_in_the_pretraining_text(pretrained, table, tmp_path):
    # the downstream task's own split, as it writes it into its run folder
    tagging = load_config(
        None, ["data.task=greek-tagging", "model.arch=tagger-dictionary", f"data.table={table}", *BOOK]
    )
    from attnkit.config import task_of

    task_of(tagging).build(tagging.data, tmp_path)
    held = {
        json.loads(line)["ref"]
        for split in ("dev", "test")
        for line in (tmp_path / "data" / f"{split}.jsonl").read_text("utf-8").splitlines()
    }
    assert {ref.split()[0] for ref in held} == {"Mark", "Heb", "Jas", "2Cor", "1Pet"}
    corpus = [json.loads(x) for s in ("train", "dev", "test") for x in (pretrained / "data" / f"{s}.jsonl").open()]
    seen = {row["ref"] for row in corpus}
    assert not seen & held
    # every other verse is there (a verse is one sequence: max_len 64 > 58 words)
    verses = read_sblgnt(table)
    assert seen == {v.ref for v in verses} - held
    texts = {tuple(row["words"]) for row in corpus}
    kept = {v.words for v in verses if v.ref not in held}
    assert not {v.words for v in verses if v.ref in held} - kept & texts  # no held-out text (unless also kept)


def test_no_dev_or_test_chapter_of_the_sections_split_is_in_the_pretraining_text(tmp_path):
    cfg = PretrainConfig(source="sword", module="fakeWEB", seed=7)
    units, held = unlabelled.sword_units(cfg, read=fake_read)
    _, splits = BibleSectionsTask.build(SectionsConfig(module="fakeWEB", seed=7), tmp_path, read=fake_read)
    held_out = {c.ref for s in ("dev", "test") for c in splits[s]}
    assert held_out and held.dev | held.test == held_out
    assert not {u.chapter for u in units} & held_out
    assert {c.ref for c in splits["train"]} <= {u.chapter for u in units}


def test_packing_joins_verses_of_a_chapter_up_to_max_len():
    units = [unlabelled.Unit(f"A 1:{i}", "A 1", ("w",) * 3) for i in range(5)] + [
        unlabelled.Unit("A 2:1", "A 2", ("v",) * 7)
    ]
    packed = unlabelled.sequences(units, max_len=7, pack=True)
    assert [len(w) for _, w in packed] == [6, 6, 3, 7]  # 3+3, 3+3, 3, then a new chapter
    assert [len(w) for _, w in unlabelled.sequences(units, max_len=4, pack=False)] == [3] * 5 + [4, 3]


def test_an_interrupted_pretraining_resumes_to_the_uninterrupted_weights(table, tmp_path, monkeypatch):
    """Masks are drawn per (seed, epoch, example) and the epoch is part of the saved state: a run
    stopped mid-way (here in its second epoch, after its checkpoint at step 20) and resumed ends
    with the parameters of a run that was never stopped."""
    from attnkit.training.trainer import Trainer

    overrides = ["data.task=mlm", f"data.table={table}", *BOOK, "data.min_freq=1", *TINY]
    steps = ["train.max_steps=40", "train.eval_every=20", "train.batch_size=8", "train.threads=1"]
    train_run(load_config(None, [*overrides, *steps]), tmp_path / "straight", progress=False)
    forward_backward, calls = Trainer._forward_backward, []

    def stop_at_step_27(self, idx):
        calls.append(1)
        if len(calls) == 27:
            raise KeyboardInterrupt  # killed: nothing saved since step 20
        return forward_backward(self, idx)

    monkeypatch.setattr(Trainer, "_forward_backward", stop_at_step_27)
    with pytest.raises(KeyboardInterrupt):
        train_run(load_config(None, [*overrides, *steps]), tmp_path / "stopped", progress=False)
    assert json.loads((tmp_path / "stopped" / "trainer_state.json").read_text())["extra"]["step"] == 20
    monkeypatch.setattr(Trainer, "_forward_backward", forward_backward)
    train_run(load_config(None, []), tmp_path / "stopped", resume=True, progress=False)
    n_train = len((tmp_path / "straight" / "data" / "train.jsonl").read_text().splitlines())
    assert n_train < 8 * 40  # the 40 steps run over more than one epoch
    straight = load_file(str(tmp_path / "straight" / "last.safetensors"))
    resumed = load_file(str(tmp_path / "stopped" / "last.safetensors"))
    for name in (k for k in straight if k.startswith("model.")):
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0)


def test_loss_is_the_mean_cross_entropy_at_the_masked_words_only(pretrained):
    run = load_run(pretrained)
    task: MaskedLMTask = run.task  # type: ignore[assignment]
    model = run.model
    batch = task.collate(task.encode(task.load_split(pretrained, "train")[:6]))
    ctx = LossContext(run.config.train, epoch=3)
    total = task.loss(model, batch, ctx)
    # the same masks drawn independently, and the cross-entropy written out
    inputs, action = mask_batch(
        batch.words, batch.mask, MaskingRule(), seed=run.config.train.seed, epoch=3,
        examples=batch.examples.tolist(), mask_id=2, random_ids=(3, len(task.vocab)), protected=(1,),
    )  # fmt: skip
    chars = batch.chars.clone()
    chars[(action == 1) | (action == 2)] = task.spelling[inputs[(action == 1) | (action == 2)]]
    assert (chars[action == 1][:, 0] == 2).all() and (chars[action == 1][:, 1:] == 0).all()  # one <mask> char
    logp = F.log_softmax(model(inputs, chars, batch.mask).logits["word"], -1)
    sel = action != 0
    assert 0 < int(sel.sum()) < int(batch.mask.sum())
    expected = -logp[sel].gather(-1, batch.words[sel].unsqueeze(-1)).mean()
    n_words = sum(task.loss_weight(item) for item in task.encode(task.load_split(pretrained, "train")[:6]))
    torch.testing.assert_close(total / n_words, expected)


def test_pretraining_run_files_and_dev_metrics(pretrained):
    assert (pretrained / "vocab" / "words.txt").is_file() and (pretrained / "vocab" / "chars.txt").is_file()
    record = json.loads((pretrained / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 <= record["dev_masked_accuracy"] <= 1
    assert record["dev_perplexity"] == pytest.approx(torch.tensor(record["dev_mlm_loss"]).exp().item(), rel=1e-4)
    pred = load_run(pretrained)
    (p,) = pred.task.predict(pred.model, ["Ἐν ἀρχῇ ἦν ὁ <mask>"])
    assert p.tokens[-1] == "<mask>" and p.output.split()[-1].startswith("[")
    assert p.weights.shape == (1, 2, 5, 5)


def _finetune(tmp_path: Path, table: Path, *extra: str) -> Path:
    run = tmp_path / "tagging"
    task = ["data.task=greek-tagging", f"data.table={table}", *BOOK, "model.arch=tagger-transformer"]
    cfg = load_config(None, [*task, *TINY, *STEPS, *extra])
    train_run(cfg, run, progress=False)
    return run


def test_init_from_loads_the_encoder_and_skips_the_word_head(pretrained, table, tmp_path):
    run = _finetune(
        tmp_path, table, f"data.vocab_from={pretrained}", f"train.init_from={pretrained}",
        "train.lr=1e-12", "train.lr_min=0", "model.dropout=0", "model.word_dropout=0",
    )  # fmt: skip
    before, after = load_file(str(pretrained / "model.safetensors")), load_file(str(run / "model.safetensors"))
    encoder = [k for k in before if k.startswith("encoder.")]
    assert encoder and all(k in after for k in encoder)
    for k in encoder:  # a learning rate of 1e-12 leaves them as loaded
        torch.testing.assert_close(after[k], before[k], atol=1e-8, rtol=0)
    record = json.loads((run / "init_from.json").read_text())
    assert set(record["loaded"]) == set(encoder)
    assert {k for k in before if k.startswith("heads.word")} == set(record["skipped"])
    assert {k for k in after if k.startswith("heads.")} == set(record["fresh"])
    scratch = _finetune(tmp_path / "s", table, f"data.vocab_from={pretrained}", "train.lr=1e-12", "train.lr_min=0")
    other = load_file(str(scratch / "model.safetensors"))
    assert not torch.equal(other["encoder.embed.words.weight"], before["encoder.embed.words.weight"])


def test_encoder_classifier_loads_a_words_only_pretraining_run(tmp_path):
    cfg = PretrainConfig(source="sword", module="fakeWEB", min_freq=1)
    task, _ = MaskedLMTask.build(cfg, tmp_path / "mlm", units=unlabelled.sword_units(cfg, read=fake_read))
    sizes = {"word_dim": 8, "char_dim": 0, "d_model": 16, "n_heads": 2, "layers": 1, "d_ff": 16}
    family = FAMILIES.get("tagger-transformer")
    mlm = family.build(family.config_class(**sizes, tie_word_head=True), task.spec)
    from attnkit.training.checkpoint import save_weights

    save_weights(mlm, tmp_path / "mlm" / "model.safetensors")
    classifier_family = FAMILIES.get("encoder-classifier")
    classifier = classifier_family.build(classifier_family.config_class(**sizes), DocumentSpec(len(task.vocab), 8))
    (tmp_path / "ft" / "vocab").mkdir(parents=True)
    for name in ("words.txt", "chars.txt"):
        (tmp_path / "ft" / "vocab" / name).write_bytes((tmp_path / "mlm" / "vocab" / name).read_bytes())
    report = init_from_run(classifier, tmp_path / "mlm", tmp_path / "ft")
    assert set(report.loaded) == {k for k in mlm.state_dict() if k.startswith("encoder.")}
    assert set(report.fresh) == {k for k in classifier.state_dict() if not k.startswith("encoder.")}
    torch.testing.assert_close(classifier.encoder.embed.words.weight, mlm.encoder.embed.words.weight)


def test_bible_sections_with_vocab_from_uses_and_copies_the_pretraining_vocabulary(tmp_path):
    cfg = PretrainConfig(source="sword", module="fakeWEB", min_freq=1)
    mlm, _ = MaskedLMTask.build(cfg, tmp_path / "mlm", units=unlabelled.sword_units(cfg, read=fake_read))
    sections = SectionsConfig(module="fakeWEB", vocab_from=str(tmp_path / "mlm"))
    task, _ = BibleSectionsTask.build(sections, tmp_path / "ft", read=fake_read)
    assert task.vocab.itos == mlm.vocab.itos and task.spec.vocab_size == len(mlm.vocab)
    for name in ("vocab/words.txt", "vocab/chars.txt"):
        assert (tmp_path / "ft" / name).read_bytes() == (tmp_path / "mlm" / name).read_bytes()
    assert BibleSectionsTask.load(sections, tmp_path / "ft").vocab.itos == mlm.vocab.itos


def test_init_from_a_run_of_another_family_is_refused(tmp_path):
    """An imported BERT (attnkit import-hf) is attnkit's own BERT: none of its names is the tagger's."""
    from attnkit.models.bert_family import EncoderTextSpec
    from attnkit.training.checkpoint import save_weights

    bert = FAMILIES.get("bert")
    sizes = {"vocab_size": 20, "d_model": 8, "n_heads": 2, "layers": 1, "d_ff": 8, "max_positions": 16}
    (tmp_path / "bert").mkdir()
    save_weights(bert.build(bert.config_class(**sizes), EncoderTextSpec()), tmp_path / "bert" / "model.safetensors")
    tagger = FAMILIES.get("tagger-transformer")
    model = tagger.build(
        tagger.config_class(word_dim=4, char_dim=0, d_model=8, n_heads=2), TaggingSpec(20, 5, (("pos", 3),), 9)
    )
    with pytest.raises(ConfigError) as err:
        init_from_run(model, tmp_path / "bert", tmp_path)
    assert "none of its" in _one_line(err)


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


def test_init_from_a_missing_run_is_one_line_and_leaves_no_folder(pretrained, table, tmp_path):
    with pytest.raises(ConfigError) as err:
        _finetune(tmp_path, table, f"data.vocab_from={pretrained}", f"train.init_from={tmp_path / 'nope'}")
    assert "no model.safetensors" in _one_line(err)
    assert not (tmp_path / "tagging").exists()


def test_init_from_with_another_vocabulary_is_one_line(pretrained, table, tmp_path):
    with pytest.raises(ConfigError) as err:
        _finetune(tmp_path, table, f"train.init_from={pretrained}")
    assert f"data.vocab_from: {pretrained}" in _one_line(err)


def test_init_from_with_other_sizes_is_one_line(pretrained, table, tmp_path):
    with pytest.raises(ConfigError) as err:
        _finetune(tmp_path, table, f"data.vocab_from={pretrained}", f"train.init_from={pretrained}", "model.d_model=32")
    assert "give the model: section the pretrained run's sizes" in _one_line(err)


def test_vocab_from_a_folder_without_vocabulary_is_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        BibleSectionsTask.build(
            SectionsConfig(module="fakeWEB", vocab_from=str(tmp_path)), tmp_path / "r", read=fake_read
        )
    assert "no vocab/words.txt" in _one_line(err)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.source=web"], "data.source"),
        (["data.source=sword", "data.split=verse", "data.dev_books=[Mark]"], "data.dev_books does not apply"),
        (["data.module=spaRV1909eb"], "data.module does not apply to data.source=sblgnt"),
        (["data.select=0.0"], "data.select"),
    ],
)
def test_bad_pretraining_configs_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["data.task=mlm", *overrides])
    assert message in _one_line(err)
