"""evaluate_examples: alignment accuracy of multi-head models on the map the caller names, the
mean of the heads by default, against a count written out here."""

import pytest
import torch

from attnkit.config import load_config
from attnkit.evaluation import evaluate_examples
from attnkit.models import Seq2Seq, TransformerSeq2Seq
from attnkit.tasks import DateTask


@pytest.fixture(scope="module")
def task_and_dev(tmp_path_factory):
    cfg = load_config(None, ["data.n_train=300", "data.n_dev=40", "data.n_test=20", "data.locales=[de_DE, en_US]"])
    task, splits = DateTask.build(cfg.data, tmp_path_factory.mktemp("run"))
    return task, splits["dev"]


def _accuracy(maps, task, examples):
    """Share of gold (t, start, end) positions whose most-attended source position, in the map
    (To, Tk) given as nested lists, lies in [start, end); positions past the output miss."""
    hits = total = 0
    for rows, ex in zip(maps, examples):
        for t, start, end in task.gold_alignment(ex):
            total += 1
            if t < len(rows):
                best = max(range(len(rows[t])), key=lambda j: rows[t][j])
                hits += start <= best < end
    return hits / total


def _mean_of_heads(w):  # (Nh, To, Tk) -> nested lists (To, Tk)
    nh, to, tk = w.shape
    return [[sum(float(w[h, t, j]) for h in range(nh)) / nh for j in range(tk)] for t in range(to)]


def test_the_map_scored_is_the_mean_of_heads_by_default_or_the_head_named(task_and_dev):
    task, dev = task_and_dev
    torch.manual_seed(0)
    model = TransformerSeq2Seq(
        len(task.src_vocab),
        len(task.tgt_vocab),
        d_model=32,
        n_heads=4,
        enc_layers=1,
        dec_layers=1,
        d_ff=32,
        dropout=0.0,
    ).eval()
    metrics, translations = evaluate_examples(model, task, dev)
    assert all(t.weights.shape[0] == 4 and t.weights.dim() == 3 for t in translations)  # kept per head
    mean_maps = [_mean_of_heads(t.weights) for t in translations]
    assert metrics["alignment_accuracy"] == pytest.approx(_accuracy(mean_maps, task, dev))
    assert evaluate_examples(model, task, dev, heads="mean")[0] == metrics  # the default, spelled out
    per_head = []
    for h in range(4):
        head_metrics, _ = evaluate_examples(model, task, dev, heads=h)
        head_maps = [t.weights[h].tolist() for t in translations]
        assert head_metrics["alignment_accuracy"] == pytest.approx(_accuracy(head_maps, task, dev))
        per_head.append(head_metrics["alignment_accuracy"])
        assert not torch.allclose(
            torch.tensor(head_maps[0], dtype=torch.float64), torch.tensor(mean_maps[0], dtype=torch.float64)
        )  # a different map
    assert len({*per_head, metrics["alignment_accuracy"]}) > 1  # and, here, different numbers
    with pytest.raises(ValueError, match="head 4 is out of range: these weights have 4 heads"):
        evaluate_examples(model, task, dev[:2], heads=4)


def test_single_map_models_are_scored_as_they_are(task_and_dev):
    task, dev = task_and_dev
    torch.manual_seed(0)
    model = Seq2Seq(len(task.src_vocab), len(task.tgt_vocab), attention="bahdanau", emb_dim=8, hidden_dim=16).eval()
    metrics, translations = evaluate_examples(model, task, dev)
    assert translations[0].weights.dim() == 2
    assert metrics["alignment_accuracy"] == pytest.approx(
        _accuracy([t.weights.tolist() for t in translations], task, dev)
    )
    assert evaluate_examples(model, task, dev, heads=0)[0] == metrics
    with pytest.raises(ValueError, match="single-head weights have only head 0"):
        evaluate_examples(model, task, dev[:2], heads=1)
