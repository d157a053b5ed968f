"""The tagging tasks and the dictionary baseline: the baseline reproduces a result computed by hand
on a toy table, the loss ignores padding, train -> evaluate -> predict through ``attnkit.cli.main``
for ``greek-tagging`` (a toy token table) and ``tagging`` (CoNLL-U files), and vocabularies
reused from another run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from attnkit.cli import main
from attnkit.config import TrainConfig
from attnkit.data.sblgnt import COLUMNS
from attnkit.data.vocab import Vocab
from attnkit.errors import ConfigError, DataError
from attnkit.models import FAMILIES
from attnkit.models.specs import TaggingSpec
from attnkit.models.tagging_io import TaggerOutput
from attnkit.tasks import TASKS
from attnkit.tasks.base import LossContext
from attnkit.tasks.tagging import GreekTaggingConfig, clean_words
from attnkit.training import load_run

# (book, word, pos); every word's morph is its pos in capitals + "-X"
TRAIN = [
    (40, "λύω", "verb"),
    (40, "λύω", "verb"),
    (40, "λύω", "noun"),
    (40, "λόγος", "noun"),
    (40, "καλός", "adj"),
    (40, "ὁ", "det"),
    (40, "ὁ", "det"),
    (40, "ὁ", "det"),
    (40, "καί", "conj"),
    (40, "καί", "adv"),
]
DEV = [(41, "λύω", "verb"), (41, "ὁ", "det")]
TEST = [
    (42, "λύω", "verb"),  # seen: verb 2 x, noun 1 x -> verb
    (42, "καί", "conj"),  # seen: conj 1 x, adv 1 x, a tie -> adv (adj, adv, conj: 1 each; alphabetical)
    (42, "ἄλλος", "adj"),  # unseen; longest seen suffix "ος" (λόγος) -> noun
    (42, "ἐλπίς", "noun"),  # unseen; "ίς" unseen, "ς": noun 1 x, adj 1 x, a tie -> noun (2 x in train)
    (42, "ἀγαθός", "adj"),  # unseen; "ός" (καλός) -> adj
    (42, "τε", "ptcl"),  # unseen; no suffix seen ("ε" ends no training word) -> det, the most frequent tag
]
EXPECTED = ["verb", "adv", "noun", "noun", "adj", "det"]  # by hand, from the comments above


def write_table(path: Path, tokens=TRAIN + DEV + TEST) -> Path:
    lines = ["\t".join(COLUMNS)]
    for k, (book, word, pos) in enumerate(tokens):
        verse, number = k // 2 + 1, k % 2 + 1  # two words a verse
        lines.append(
            "\t".join([f"n{book}001{verse:03d}{number:03d}", word, word, "G1", "g", "g", word, pos, f"{pos.upper()}-X"])
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def greek_config(tmp_path: Path, **model) -> Path:
    cfg = {
        "data": {
            "task": "greek-tagging",
            "targets": "both",
            "split": "book",
            "dev_books": ["Mark"],
            "test_books": ["Luke"],
            "table": str(write_table(tmp_path / "tokens.tsv")),
            "max_len": 4,
        },
        "model": {"arch": "tagger-dictionary", "max_suffix": 2, **model},
        "train": {"batch_size": 3},
    }
    path = tmp_path / "greek.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_the_dictionary_baseline_reproduces_the_hand_computed_tags(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(greek_config(tmp_path)), "--out", str(run)]) == 0
    loaded = load_run(run)
    examples = loaded.task.load_split(run, "test")
    metrics, preds = loaded.task.evaluate(loaded.model, examples)
    assert [t for p in preds for t in p.tags["pos"]] == EXPECTED
    assert [t for p in preds for t in p.tags["morph"]] == [f"{t.upper()}-X" for t in EXPECTED]
    gold = [pos for _, _, pos in TEST]
    right = [p == g for p, g in zip(EXPECTED, gold)]  # λύω verb, ἐλπίς noun, ἀγαθός adj right: 3 of 6
    assert metrics["pos_accuracy"] == pytest.approx(sum(right) / 6) == metrics["accuracy"]
    assert metrics["n_unseen"] == 4 and metrics["pos_unseen_accuracy"] == pytest.approx(2 / 4)  # ἐλπίς, ἀγαθός
    assert metrics["pos_per_tag"]["adj"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "n": 2}
    # one line of metrics.jsonl, no steps
    (record,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert record["step"] == 0 and record["score"] == pytest.approx(1.0)  # dev: λύω verb, ὁ det

    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--detailed", "--confusion-plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "pos accuracy:" in out and "50.00%" in out and "unseen words: 50.00%" in out
    assert (tmp_path / "c.png").stat().st_size > 1000

    plot = tmp_path / "p.png"
    assert main(["predict", "--model", str(run), "λύω ἀγαθός, τε.", "--attention-plot", str(plot)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["λύω", "verb", "(1.00)"],
        ["ἀγαθός", "adj", "(1.00)"],
        ["τε", "det", "(1.00)"],
    ]
    assert "[unseen]" in lines[1] and "[unseen]" not in lines[0]
    assert plot.stat().st_size > 1000
    assert main(["predict", "--model", str(run), "λύω", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.splitlines()[0])
    assert answer["kind"] == "tagging" and answer["tags"] == {"pos": ["verb"], "morph": ["VERB-X"]}
    assert answer["weights"] is None  # the dictionary has no attention


def test_predict_refuses_what_it_cannot_tag(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(greek_config(tmp_path)), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(run), " ,. "]) != 0
    assert main(["predict", "--model", str(run), "a b c d e f g"]) != 0  # longer than data.max_len
    assert main(["predict", "--model", str(run), "λύω", "--option", "colour=red"]) != 0
    err = capsys.readouterr().err
    assert "no words" in err and "at most 4 words" in err and "unknown option colour" in err


def test_clean_words_strips_attached_punctuation():
    assert clean_words("Ἐν ἀρχῇ ἦν ὁ λόγος, καὶ — «θεὸς» ἦν.") == [
        "Ἐν",
        "ἀρχῇ",
        "ἦν",
        "ὁ",
        "λόγος",
        "καὶ",
        "θεὸς",
        "ἦν",
    ]


class MeanContextTagger(nn.Module):
    """A tiny model of the TaggingSpec call: each word's embedding plus the mean of the real words'
    embeddings of its sentence (padding masked out), then one linear head per target."""

    def __init__(self, spec: TaggingSpec) -> None:
        super().__init__()
        self.embed = nn.Embedding(spec.vocab_size, 8)
        self.heads = nn.ModuleDict({name: nn.Linear(16, n) for name, n in spec.targets})

    def forward(self, words, chars, mask) -> TaggerOutput:
        x = self.embed(words)  # (B, T, 8)
        m = mask.unsqueeze(-1).float()
        context = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)  # (B, 1, 8)
        h = torch.cat([x, context.expand_as(x)], -1)
        return TaggerOutput({name: head(h) for name, head in self.heads.items()}, h)


def test_the_loss_ignores_padding(tmp_path):
    cfg = GreekTaggingConfig(
        split="book", dev_books=("Mark",), test_books=("Luke",), table=str(write_table(tmp_path / "t.tsv"))
    )
    task, splits = TASKS.get("greek-tagging").build(cfg, tmp_path / "run")
    torch.manual_seed(0)
    model = MeanContextTagger(task.spec)
    items = task.encode(splits["train"][:1] + splits["test"][:1])
    items = [
        items[0],
        items[1]._replace(
            words=items[1].words[:1], chars=items[1].chars[:1], labels=tuple(y[:1] for y in items[1].labels)
        ),
    ]
    ctx = LossContext(TrainConfig())
    together = task.loss(model, task.collate(items), ctx)  # row 1 padded to 2 words
    alone = [task.loss(model, task.collate([it]), ctx) for it in items]
    assert task.collate(items).mask.tolist() == [[True, True], [True, False]]
    torch.testing.assert_close(together, alone[0] + alone[1])
    # and it is the plain sum of -log p(gold) over the three real words and both targets
    out = model(*task.collate(items)[:3])
    by_hand = 0.0
    for name, gold in task.collate(items).labels.items():
        for b, t in [(0, 0), (0, 1), (1, 0)]:
            by_hand -= torch.log_softmax(out.logits[name][b, t], -1)[gold[b, t]]
    torch.testing.assert_close(together, by_hand)
    assert [task.loss_weight(it) for it in items] == [2, 1]


def test_vocabularies_are_reused_from_another_run(tmp_path):
    first = tmp_path / "first"
    assert main(["train", str(greek_config(tmp_path)), "--out", str(first)]) == 0
    words = Vocab.load(first / "vocab" / "words.txt")
    assert (
        words.itos[:3] == ["<pad>", "<unk>", "<mask>"] and Vocab.load(first / "vocab" / "chars.txt").itos[2] == "<mask>"
    )
    cfg = GreekTaggingConfig(
        split="book",
        dev_books=("Mark",),
        test_books=("Luke",),
        table=str(tmp_path / "tokens.tsv"),
        vocab_from=str(first),
    )
    task, _ = TASKS.get("greek-tagging").build(cfg, tmp_path / "second")
    assert task.words.itos == words.itos
    with pytest.raises(DataError, match=r"no vocab/words.txt, vocab/chars.txt there"):
        TASKS.get("greek-tagging").build(
            GreekTaggingConfig(
                split="book", dev_books=("Mark",), test_books=("Luke",), table=cfg.table, vocab_from=str(tmp_path)
            ),
            tmp_path / "third",
        )


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="data.targets must be one of pos, morph, both"):
        GreekTaggingConfig(targets="lemma").check()
    with pytest.raises(ConfigError, match="book split only"):
        GreekTaggingConfig(split="verse", test_books=("Mark",)).check()
    with pytest.raises(ConfigError, match="verse split only"):
        GreekTaggingConfig(split="book", dev_fraction=0.2).check()


CONLLU = """1\tἘν\tἐν\tADP\tR-\t_\t2\tcase\t_\t_
2\tἀρχῇ\tἀρχή\tNOUN\tNb\tCase=Dat\t0\troot\t_\t_

1\tὁ\tὁ\tDET\tS-\tCase=Nom\t2\tdet\t_\t_
2\tλόγος\tλόγος\tNOUN\tNb\tCase=Nom\t0\troot\t_\t_
"""


def test_conllu_tagging_trains_evaluates_and_predicts(tmp_path, capsys):
    for name in ("train", "dev", "test"):
        (tmp_path / f"{name}.conllu").write_text(CONLLU, encoding="utf-8")
    cfg = {
        "data": {
            "task": "tagging",
            **{name: str(tmp_path / f"{name}.conllu") for name in ("train", "dev", "test")},
            "targets": ["upos", "feats"],
        },
        "model": {"arch": "tagger-dictionary"},
    }
    path = tmp_path / "conllu.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run)]) == 0
    out = capsys.readouterr().out
    assert "upos accuracy:        100.00%" in out and "feats accuracy:" in out
    assert main(["predict", "--model", str(run), "ὁ λόγος"]) == 0
    assert capsys.readouterr().out.split() == [
        "ὁ",
        "DET",
        "(1.00)",
        "Case=Nom",
        "(1.00)",
        "λόγος",
        "NOUN",
        "(1.00)",
        "Case=Nom",
        "(1.00)",
    ]
    (tmp_path / "dev.conllu").write_text("1\tx\tx\n", encoding="utf-8")
    assert main(["train", str(path), "--out", str(tmp_path / "bad")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path / 'dev.conllu'}:1:" in err and "3 tab-separated fields" in err


@pytest.mark.skipif(
    "tagger-transformer" not in FAMILIES.names(), reason="needs the tagger families (branch tag-models)"
)
def test_a_tiny_transformer_tagger_predicts_with_its_attention(tmp_path, capsys):
    run = tmp_path / "run"
    cfg = greek_config(tmp_path)
    raw = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    raw["model"] = {
        "arch": "tagger-transformer",
        "word_dim": 8,
        "char_dim": 8,
        "d_model": 16,
        "n_heads": 2,
        "layers": 2,
        "d_ff": 16,
    }
    raw["train"] = {"batch_size": 2, "max_steps": 4, "eval_every": 2}
    cfg.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    assert main(["train", str(cfg), "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    plot = tmp_path / "p.png"
    args = ["predict", "--model", str(run), "λύω ἀγαθός τε", "--attention-plot", str(plot), "--attention-heads", "1"]
    assert main(args + ["--option", "layer=0"]) == 0
    lines = capsys.readouterr().out.splitlines()[:3]
    assert [line.split()[0] for line in lines] == ["λύω", "ἀγαθός", "τε"]
    assert all("->" in line for line in lines)  # the word each word attended to most (layer 0)
    assert plot.stat().st_size > 1000
    assert main(["predict", "--model", str(run), "λύω τε", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out.splitlines()[0])
    weights = np.array(answer["weights"]["data"]).reshape(answer["weights"]["shape"])
    assert weights.shape == (2, 2, 2, 2)  # (L, Nh, T, T)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-4)
    assert main(["predict", "--model", str(run), "λύω", "--option", "layer=2"]) != 0
    assert "this model has 2 self-attention layers" in capsys.readouterr().err
