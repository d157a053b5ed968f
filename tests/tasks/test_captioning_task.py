"""The scenes-caption task on the real Fashion-MNIST files: disjoint sources across splits, the
run folder read back and checked, batches and the loss, localisation scored on hand-made
attention, and the config's refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnkit.config import TrainConfig, load_config
from attnkit.data import scenes as S
from attnkit.data.fashion_mnist import FASHION_MNIST_DIR
from attnkit.errors import ConfigError
from attnkit.models import FAMILIES
from attnkit.tasks.base import LossContext
from attnkit.tasks.captioning import CaptionPrediction, ScenesCaptionConfig, ScenesCaptionTask

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="needs Fashion-MNIST: sudo apt-get install dataset-fashion-mnist",
)
CFG = ScenesCaptionConfig(n_train=120, n_dev=30, n_test=40, seed=7)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    run = tmp_path_factory.mktemp("scenes")
    task, splits = ScenesCaptionTask.build(CFG, run)
    return run, task, splits


def test_splits_never_share_a_source_image(built):
    run, task, splits = built
    pools = ScenesCaptionTask.pools(CFG, 60000, 10000)
    assert not set(pools["dev"]) & set(pools["test"]) and len(pools["dev"]) + len(pools["test"]) == 10000
    used = {s: {it.source for e in ex for it in e.scene.items} for s, ex in splits.items()}
    assert used["dev"] <= set(pools["dev"]) and used["test"] <= set(pools["test"])
    assert not used["dev"] & used["test"]  # train draws from the other file (the 60,000 training images)
    assert [len(splits[s]) for s in ("train", "dev", "test")] == [120, 30, 40]
    assert {len(e.scene.items) for e in splits["train"]} == {2, 3, 4}


def test_the_run_folder_reads_back_and_is_checked(built):
    run, task, splits = built
    again = ScenesCaptionTask.load(CFG, run)
    assert again.vocab.itos == task.vocab.itos and again.max_target_len == task.max_target_len
    for split in ("train", "test"):
        loaded = ScenesCaptionTask.load_split(run, split)
        assert [e.scene for e in loaded] == [e.scene for e in splits[split]]
        assert all(torch.equal(a.image, b.image) for a, b in zip(loaded, splits[split]))
    record = json.loads((run / "data" / "dev.json").read_text())
    record["scenes"][0]["items"][0][2] += 1  # move one item by a pixel
    (run / "data" / "dev.json").write_text(json.dumps(record))
    with pytest.raises(ConfigError, match="differ from the ones this run was trained on"):
        ScenesCaptionTask.load_split(run, "dev")


def test_batches_and_the_loss(built):
    run, task, splits = built
    items = task.encode(splits["train"][:4])
    batch = task.collate(items)
    assert batch.images.shape == (4, 1, 84, 84) and batch.images.dtype == torch.float32
    assert int((batch.tgt_out != 0).sum()) == sum(task.loss_weight(i) for i in items)
    assert task.vocab.decode(batch.tgt_out[0].tolist()) == splits["train"][0].scene.caption.split()
    cfg = load_config(
        None,
        [
            "data.task=scenes-caption",
            "model.channels=[4,4]",
            "model.pools=[4,3]",
            "model.hidden_dim=8",
            "model.emb_dim=8",
            "model.attn_dim=8",
        ],
    )
    torch.manual_seed(0)
    model = FAMILIES.get("show-attend-tell").build(cfg.model, task.spec)
    ctx = LossContext(TrainConfig())
    loss = task.loss(model, batch, ctx)
    out = model(batch.images, batch.tgt_in)
    ce = F.cross_entropy(out.logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=0, reduction="sum")
    torch.testing.assert_close(loss, ce + out.penalty)  # lambda = 1 by default
    assert float(out.penalty.detach()) > 0


def _prediction(scene, cell_of):
    words = scene.caption.split() + ["</s>"]
    maps = np.full((len(words), 7, 7), 1 / 49)
    for (label, positions), item in zip(S.item_mentions(words), scene.items):
        for t in positions:
            maps[t] = 0.0
            maps[t][cell_of(item.box)] = 1.0
    return CaptionPrediction(scene.caption, np.zeros((84, 84)), words, maps, 0.0)


def test_localisation_of_attention_at_and_away_from_the_items(built):
    run, task, splits = built
    examples = splits["test"][:10]
    centre = lambda b: ((b[1] + b[3]) // 2 // 12, (b[0] + b[2]) // 2 // 12)  # noqa: E731
    good = task._localisation([_prediction(e.scene, centre) for e in examples], examples)
    n_nouns = sum(len(p) for e in examples for _, p in S.item_mentions(e.scene.caption.split()))
    assert good["localisation_accuracy"] == 1.0 and good["n_localised"] == good["n_item_words"] == n_nouns
    assert 0 < good["chance_peak"] < 0.2 and 0 < good["chance_mass"] < 0.2
    assert good["attention_in_box"] > 0.5
    far = lambda b: (6 if b[1] < 42 else 0, 6 if b[0] < 42 else 0)  # noqa: E731  the opposite corner cell
    bad = task._localisation([_prediction(e.scene, far) for e in examples], examples)
    assert bad["localisation_accuracy"] < 0.05
    wrong = examples[0].scene
    swapped = CaptionPrediction(
        wrong.caption,
        np.zeros((84, 84)),
        ["a", "dress", "</s>"] if wrong.items[0].label != 3 else ["a", "coat", "</s>"],
        np.full((3, 7, 7), 1 / 49),
        0.0,
    )
    assert task._localisation([swapped], [examples[0]])["n_localised"] == 0  # a wrongly named item is not scored


def test_the_shipped_configs_differ_only_in_the_attention():
    from pathlib import Path

    configs = {
        a: load_config(Path(__file__).resolve().parents[2] / "configs" / f"scenes-caption-{a}.yaml").to_dict()
        for a in ("soft", "hard", "none")
    }
    assert {c["model"]["attention"] for c in configs.values()} == {"soft", "hard", "none"}
    assert configs["soft"]["data"] == configs["hard"]["data"] == configs["none"]["data"]
    budget = {
        k: v
        for k, v in configs["soft"]["train"].items()
        if k not in ("reinforce_weight", "entropy_weight", "baseline_decay")
    }
    for c in configs.values():
        assert {k: c["train"][k] for k in budget} == budget
        assert c["model"]["channels"] == [16, 32, 64] and c["model"]["hidden_dim"] == 128
    assert configs["soft"]["model"]["penalty"] == 1.0 and "penalty" not in configs["hard"]["model"]
    assert configs["hard"]["model"]["expected_context"] == 0.5  # [Xu15] Sec. 4.1
    assert all(c["train"]["patience"] * c["train"]["eval_every"] > c["train"]["max_steps"] for c in configs.values())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.attention=hard", "model.penalty=0.5"], "penalty does not apply"),
        (["model.attention=none", "model.gate=false"], "gate does not apply"),
        (["model.expected_context=0.5"], "expected_context does not apply"),
        (["model.attention=hard", "model.expected_context=2"], "probability in"),
        (["model.attention=local"], "unknown 'local'"),
        (["model.channels=[8,8]"], "one positive integer per stage"),
        (["data.n_max=9", "data.side_min=30"], "do not fit"),
    ],
)
def test_the_config_refuses_what_would_be_ignored_or_cannot_work(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["data.task=scenes-caption", *overrides])
