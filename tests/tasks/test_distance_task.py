"""The distance task as a plug-in: config checks, the run folder's record and its check on reload,
batches for the document families, accuracy per distance, predictions; and the rnn-classifier family
(final states or attention pooling) trained on it end to end."""

from __future__ import annotations

import json

import pytest
import torch

from attnkit.errors import ConfigError, InputError
from attnkit.models import FAMILIES
from attnkit.models.rnn_classifier import RNNClassifier, RNNClassifierConfig
from attnkit.tasks import TASKS
from attnkit.tasks.distance import DistanceConfig

SMALL = DistanceConfig(
    distances=(1, 5), length=8, n_classes=3, noise_tokens=4, train_size=40, dev_size=10, test_size=12
)


def test_config_errors_are_one_line_and_name_the_fix():
    with pytest.raises(ConfigError, match=r"data.distances \[9\] do not fit sequences of data.length=8"):
        DistanceConfig(distances=(1, 9), length=8).check()
    DistanceConfig(distances=(1, 9)).check()  # length 0: max + 1
    assert DistanceConfig(distances=(1, 9)).seq_length == 10
    with pytest.raises(ConfigError, match="n_classes must be >= 2"):
        DistanceConfig(n_classes=1).check()


def test_build_records_the_splits_and_reload_checks_them(tmp_path):
    task_cls = TASKS.get("distance")
    task, splits = task_cls.build(SMALL, tmp_path)
    assert {k: len(v) for k, v in splits.items()} == {"train": 40, "dev": 10, "test": 12}
    assert splits["train"] != splits["dev"]  # each split has its own seed
    assert task_cls.load_split(tmp_path, "test") == splits["test"]
    info = json.loads((tmp_path / "dataset.json").read_text())
    info["sha256"]["dev"] = "0" * 64
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(ConfigError, match="the regenerated dev split differs"):
        task_cls.load_split(tmp_path, "dev")


def test_batches_are_one_sentence_documents_of_the_token_ids(tmp_path):
    task, splits = TASKS.get("distance").build(SMALL, tmp_path)
    batch = task.collate(splits["train"][:3])
    assert batch.tokens.shape == (3, 1, 8) and batch.sentence_lengths.tolist() == [[8]] * 3
    assert batch.n_sentences.tolist() == [1, 1, 1]
    first = splits["train"][0]
    assert [task.vocab[i] for i in batch.tokens[0, 0].tolist()] == list(first.tokens)
    assert batch.labels.tolist() == [e.label for e in splits["train"][:3]]


class _Oracle(torch.nn.Module):
    """Reads the answer off the tokens: right at distance 1, wrong (class 0 - 1) at distance 5."""

    def __init__(self, task):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.task = task

    def forward(self, tokens, lengths, n):
        from attnkit.models.han import HANOutput

        logits = torch.zeros(tokens.shape[0], 3)
        for b in range(tokens.shape[0]):
            toks = [self.task.vocab[i] for i in tokens[b, 0].tolist()]
            d = len(toks) - 1 - next(i for i, t in enumerate(toks) if t.startswith("v"))
            label = (int(toks[-1 - d][1:]) + int(toks[-1][1:])) % 3
            logits[b, label if d == 1 else (label + 1) % 3] = 1.0
        weights = torch.full(tokens.shape, 1 / tokens.shape[-1])
        return HANOutput(logits, weights, weights.sum(-1))


def test_evaluation_gives_the_accuracy_of_every_distance(tmp_path):
    task, splits = TASKS.get("distance").build(SMALL, tmp_path)
    metrics, preds = task.evaluate(_Oracle(task), splits["test"])
    assert metrics["accuracy_by_distance"] == {"1": 1.0, "5": 0.0}
    assert metrics["accuracy"] == 0.5 and len(preds) == 12
    assert any("distance 5:" in line for line in task.report(metrics))
    (pred,) = task.predict(_Oracle(task), ["n0 n1 n2 n3 n0 n1 v2 q2"])
    assert pred.output == "1" and pred.sentences == [["n0", "n1", "n2", "n3", "n0", "n1", "v2", "q2"]]
    with pytest.raises(InputError, match="unknown: x9"):
        task.predict(_Oracle(task), ["n0 x9 q1"])


def test_last_pooling_reads_the_final_states_of_both_directions():
    torch.manual_seed(0)
    model = RNNClassifier(10, 3, emb_dim=4, hidden_dim=5, pooling="last", dropout=0.0).eval()
    tokens = torch.tensor([[[3, 4, 5, 0]], [[6, 7, 8, 9]]])  # (B, S=1, W): the first is padded after 3 words
    out = model(tokens, torch.tensor([[3], [4]]), torch.ones(2, dtype=torch.long))
    for b, n in ((0, 3), (1, 4)):  # reference: the LSTM run on the real words alone
        _, (h, _) = model.rnn(model.embed(tokens[b : b + 1, 0, :n]))
        want = model.classifier(torch.cat([h[0], h[1]], dim=-1))
        torch.testing.assert_close(out.logits[b : b + 1], want)
        assert out.word_weights[b, 0].tolist() == [1.0 if i == n - 1 else 0.0 for i in range(4)]


def test_both_poolings_train_on_the_task_and_their_weights_sum_to_one(tmp_path):
    task, splits = TASKS.get("distance").build(SMALL, tmp_path)
    for pooling in ("last", "attention"):
        cfg = RNNClassifierConfig(emb_dim=8, hidden_dim=8, pooling=pooling, attn_dim=8)
        cfg.check()
        model = FAMILIES.get("rnn-classifier").build(cfg, task.spec)
        assert model.uses_attention == (pooling == "attention")
        batch = task.collate(splits["train"][:8])
        out = model(batch.tokens, batch.sentence_lengths, batch.n_sentences)
        torch.testing.assert_close(out.word_weights.sum((1, 2)), torch.ones(8))
        out.logits.sum().backward()
    with pytest.raises(ConfigError, match="model.pooling: unknown 'mean'"):
        RNNClassifierConfig(pooling="mean").check()
