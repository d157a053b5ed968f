"""Classification metrics against scikit-learn; size-sorted batches cover every item once."""

import random

import pytest
import torch

from attnkit.data import bucket_batches
from attnkit.evaluation import classification_metrics


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
    assert ours["macro_f1"] == pytest.approx(
        metrics.f1_score(gold, pred, average="macro", labels=range(5), zero_division=0)
    )
    recall = metrics.recall_score(gold, pred, average=None, labels=range(4), zero_division=0)
    assert ours["per_class_accuracy"][:4] == pytest.approx(list(recall)) and ours["per_class_accuracy"][4] is None
    with pytest.raises(ValueError, match="equally many"):
        classification_metrics([0], [0, 1], 2)
