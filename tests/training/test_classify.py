"""Classifier training loop: it learns a keyword task with a HAN, keeps the best dev epoch,
stops early, batches by size; metrics match scikit-learn."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from attnkit.models.han import HierarchicalAttentionNetwork
from attnkit.training.checkpoint import load_weights
from attnkit.training.classify import (
    ClassifierConfig,
    bucket_batches,
    classification_metrics,
    predict,
    train_classifier,
)

N_CLASSES, VOCAB = 3, 24  # id 0 pads; ids 1-3 are the class keywords; 4-23 filler


def keyword_documents(n: int, seed: int) -> list[tuple[list[list[int]], int]]:
    """Documents of 2-4 sentences of 3-6 filler words; one sentence holds the class's keyword."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        label = rng.randrange(N_CLASSES)
        sentences = [[rng.randrange(4, VOCAB) for _ in range(rng.randint(3, 6))] for _ in range(rng.randint(2, 4))]
        target = rng.choice(sentences)
        target[rng.randrange(len(target))] = 1 + label
        docs.append((sentences, label))
    return docs


def collate_documents(docs):
    s = max(len(d) for d, _ in docs)
    w = max(len(sent) for d, _ in docs for sent in d)
    tokens = torch.zeros(len(docs), s, w, dtype=torch.long)
    lengths = torch.zeros(len(docs), s, dtype=torch.long)
    for b, (doc, _) in enumerate(docs):
        for i, sent in enumerate(doc):
            tokens[b, i, :len(sent)] = torch.tensor(sent)
            lengths[b, i] = len(sent)
    n_sentences = torch.tensor([len(d) for d, _ in docs])
    return (tokens, lengths, n_sentences), torch.tensor([y for _, y in docs])


def test_han_learns_a_keyword_task_and_keeps_the_best_checkpoint(tmp_path):
    torch.manual_seed(0)
    train, dev = keyword_documents(150, seed=1), keyword_documents(40, seed=2)
    model = HierarchicalAttentionNetwork(VOCAB, N_CLASSES, emb_dim=12, hidden_dim=12, attn_dim=12)
    config = ClassifierConfig(epochs=10, batch_size=16, lr=0.02, patience=3, seed=3)
    result = train_classifier(model, train, dev, collate_documents, N_CLASSES, tmp_path / "best.safetensors",
                              config=config, size=lambda d: len(d[0]) * max(map(len, d[0])), progress=False)
    best_row = max(result.history, key=lambda r: (r["dev_accuracy"], r["dev_macro_f1"]))
    assert result.best_epoch == best_row["epoch"] and result.best_dev_accuracy == best_row["dev_accuracy"]
    assert result.best_dev_accuracy >= 0.9
    probs, gold = predict(model, dev, collate_documents)
    assert classification_metrics(probs.argmax(-1), gold, N_CLASSES)["accuracy"] == result.best_dev_accuracy
    fresh = HierarchicalAttentionNetwork(VOCAB, N_CLASSES, emb_dim=12, hidden_dim=12, attn_dim=12)
    load_weights(fresh, tmp_path / "best.safetensors")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    assert not model.training
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(dev)))


def test_best_epoch_is_restored_and_training_stops_early(tmp_path):
    """Train teaches the opposite of dev: dev accuracy is best after epoch 1 and then falls."""
    e0, e1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    train, dev = [(e0, 1), (e1, 0)] * 4, [(e0, 0), (e1, 1)]
    model = nn.Linear(2, 2, bias=False)  # returns logits as a plain tensor
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))

    def collate(items):
        return (torch.stack([x for x, _ in items]),), torch.tensor([y for _, y in items])

    config = ClassifierConfig(epochs=10, batch_size=8, lr=0.3, patience=2, clip_norm=0.0)
    result = train_classifier(model, train, dev, collate, 2, tmp_path / "w.safetensors", config=config,
                              progress=False)
    assert [r["dev_accuracy"] for r in result.history] == [1.0, 0.0, 0.0]
    assert result.best_epoch == 1 and result.stopped_early
    probs, _ = predict(model, dev, collate)
    assert probs.argmax(-1).tolist() == [0, 1]  # the epoch-1 weights, not the last ones


def test_bucket_batches_cover_every_item_once_and_group_sizes():
    rng = random.Random(0)
    sizes = [rng.randrange(100) for _ in range(101)]
    batches = bucket_batches(sizes, 10, 4, torch.Generator().manual_seed(5))
    assert sorted(i for b in batches for i in b) == list(range(101))
    assert all(len(b) <= 10 for b in batches)
    spread = sum(max(sizes[i] for i in b) - min(sizes[i] for i in b) for b in batches)
    plain = bucket_batches(sizes, 10, 1, torch.Generator().manual_seed(5))
    assert spread < sum(max(sizes[i] for i in b) - min(sizes[i] for i in b) for b in plain)
    assert bucket_batches(sizes, 10, 4, torch.Generator().manual_seed(5)) == batches


def test_metrics_match_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(0)
    gold = [rng.randrange(4) for _ in range(50)]
    pred = [g if rng.random() < 0.6 else rng.randrange(5) for g in gold]  # class 4 is never gold
    ours = classification_metrics(pred, gold, 5)
    assert ours["accuracy"] == pytest.approx(metrics.accuracy_score(gold, pred))
    assert ours["macro_f1"] == pytest.approx(metrics.f1_score(gold, pred, average="macro", labels=range(5),
                                                               zero_division=0))
    recall = metrics.recall_score(gold, pred, average=None, labels=range(4), zero_division=0)
    assert ours["per_class_accuracy"][:4] == pytest.approx(list(recall)) and ours["per_class_accuracy"][4] is None
    with pytest.raises(ValueError, match="equally many"):
        classification_metrics([0], [0, 1], 2)
